"""Is a new JSON Schema of an event version still compatible with the published one?

Within one ``event_version`` only additive changes are allowed: new optional properties.
Removing a property, changing its type, or changing which properties are required breaks
either old producers or old consumers, and needs a new version with an upcaster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonSchema = dict[str, Any]

#: Keywords that document a schema without changing what it accepts.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "$defs"})
_COMPOSITIONS = ("anyOf", "oneOf", "allOf")
_STRUCTURAL = frozenset({"properties", "required", "items", "additionalProperties", *_COMPOSITIONS})


@dataclass
class Comparison:
    breaking: list[str] = field(default_factory=list)
    additive: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.breaking and not self.additive


def compare(old: JsonSchema, new: JsonSchema) -> Comparison:
    """Classify every difference between two schema documents."""
    comparer = _Comparer(old, new)
    comparer.schemas(old, new, "$")
    return comparer.result


class _Comparer:
    def __init__(self, old_document: JsonSchema, new_document: JsonSchema) -> None:
        self._old_defs: dict[str, Any] = old_document.get("$defs", {})
        self._new_defs: dict[str, Any] = new_document.get("$defs", {})
        self.result = Comparison()

    @staticmethod
    def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = defs[str(schema["$ref"]).rsplit("/", 1)[-1]]
        return schema

    def schemas(self, old_schema: Any, new_schema: Any, path: str) -> None:
        old = self._resolve(old_schema, self._old_defs)
        new = self._resolve(new_schema, self._new_defs)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if old != new:
                self.result.breaking.append(f"{path}: changed from {old!r} to {new!r}")
            return
        if "properties" in old or "properties" in new:
            self._objects(old, new, path)
        for keyword in _COMPOSITIONS:
            self._compositions(keyword, old.get(keyword), new.get(keyword), path)
        if "items" in old or "items" in new:
            self.schemas(old.get("items"), new.get("items"), f"{path}[]")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.schemas(old_extra, new_extra, f"{path}{{*}}")
        elif old_extra != new_extra:
            self.result.breaking.append(f"{path}: additionalProperties changed")
        for keyword in sorted((set(old) | set(new)) - _ANNOTATIONS - _STRUCTURAL):
            if old.get(keyword) != new.get(keyword):
                self.result.breaking.append(
                    f"{path}: '{keyword}' changed from {old.get(keyword)!r} to {new.get(keyword)!r}"
                )

    def _compositions(self, keyword: str, old: Any, new: Any, path: str) -> None:
        if old is None and new is None:
            return
        if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
            self.result.breaking.append(f"{path}: {keyword} changed")
            return
        for index, (old_option, new_option) in enumerate(zip(old, new, strict=True)):
            self.schemas(old_option, new_option, f"{path}.{keyword}[{index}]")

    def _objects(self, old: JsonSchema, new: JsonSchema, path: str) -> None:
        old_properties: dict[str, Any] = old.get("properties", {})
        new_properties: dict[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in sorted(old_properties):
            if name not in new_properties:
                self.result.breaking.append(f"{path}.{name}: removed")
            else:
                self.schemas(old_properties[name], new_properties[name], f"{path}.{name}")
        for name in sorted(set(new_properties) - set(old_properties)):
            if name in new_required:
                self.result.breaking.append(f"{path}.{name}: added as required")
            else:
                self.result.additive.append(f"{path}.{name}: added (optional)")
        for name in sorted((old_required ^ new_required) & set(old_properties)):
            state = "now required" if name in new_required else "no longer required"
            self.result.breaking.append(f"{path}.{name}: {state}")
