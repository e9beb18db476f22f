/**
 * Text for destinations that need well-formed Unicode. A JavaScript string may hold a lone UTF-16 surrogate (half
 * of an emoji, cut by a truncating SDK, or sent as `"\ud83d"` in OTLP/JSON); UTF-8 cannot encode it, and
 * `JSON.stringify` writes it as the escape `\ud83d`, which is valid JSON but which ClickHouse refuses ("missing
 * second part of surrogate pair": the whole INSERT fails) and strict JSON consumers reject. Pulse writes such a
 * surrogate as U+FFFD (the replacement character), as `TextEncoder` and `Buffer.from(s, 'utf8')` do.
 */

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export const REPLACEMENT_CHARACTER = '\ufffd';

/** `s` with every lone surrogate replaced by U+FFFD (`String.prototype.toWellFormed`, which ES2023 lacks). */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, REPLACEMENT_CHARACTER);
}

const wellFormedStrings = (_key: string, value: unknown): unknown => (typeof value === 'string' ? wellFormed(value) : value);

/**
 * `JSON.stringify(value)`, with a lone surrogate in any string value written as U+FFFD instead of `\udXXX`.
 * Ordinary text costs one scan of the JSON: `JSON.stringify` writes other characters as they are, so only a lone
 * surrogate (or a literal backslash before `ud`, harmlessly) puts `\ud` in its output and takes the second pass.
 * Object keys are left as they are.
 */
export function stringifyWellFormed(value: unknown): string {
  const json = JSON.stringify(value);
  if (!json.includes('\\ud')) return json;
  return JSON.stringify(value, wellFormedStrings);
}
