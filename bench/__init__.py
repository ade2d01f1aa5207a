"""aequatio's benchmark harness (issue 7): ``make bench``, ``make bench-quick``; see README.md."""
