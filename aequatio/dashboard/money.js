// Money in integer minor units, as the API speaks it; decimals only at the edges of the page.

/** Decimal places of a currency's minor unit (EUR 2, JPY 0, BHD 3), from the browser's ISO 4217 data. */
export function exponent(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** "42.5" in EUR -> 4250; null when the text is not an amount with at most the currency's decimals. */
export function toMinor(text, currency) {
  const places = exponent(currency);
  const match = /^\s*(\d+)(?:[.,](\d*))?\s*$/.exec(text ?? "");
  if (!match) return null;
  const fraction = match[2] ?? "";
  if (fraction.length > places) return null;
  return Number(match[1]) * 10 ** places + Number(fraction.padEnd(places, "0") || 0);
}

/** 4250 EUR -> "42.50 EUR" (integer arithmetic: no float ever rounds a cent). */
export function formatMinor(amount, currency) {
  const places = exponent(currency);
  const sign = amount < 0 ? "−" : "";
  const digits = String(Math.abs(amount)).padStart(places + 1, "0");
  const whole = Number(digits.slice(0, digits.length - places)).toLocaleString("en");
  const fraction = places ? `.${digits.slice(digits.length - places)}` : "";
  return `${sign}${whole}${fraction} ${currency}`;
}

/** "12.5" (percent) -> 1250 basis points; null when not a percentage with at most 2 decimals. */
export function toBasisPoints(text) {
  const match = /^\s*(\d+)(?:[.,](\d{0,2}))?\s*$/.exec(text ?? "");
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0") || 0);
}
