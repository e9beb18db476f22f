/**
 * Environment variable references in config values, expanded on the parsed YAML document (scalar by scalar) so
 * every position stays that of the text the user wrote.
 *
 * Syntax (the OpenTelemetry Collector's, minus its deprecated forms):
 * - `${env:NAME}` — the value of NAME. Unset: an error at that position (set it, or give a default).
 * - `${env:NAME:-default}` — `default` when NAME is unset or empty (shell semantics of `:-`).
 * - `$$` — a literal `$` (so `$${env:X}` is the literal text `${env:X}`). A `$` followed by anything else is
 *   kept as is.
 * - `${NAME}` (no `env:`) is an error rather than silently expanded or silently kept: the Collector dropped bare
 *   expansion because it bit people with `$` in passwords and regexes; the message says what to write instead.
 *   Other providers (`${file:…}`) are not supported and are errors too.
 *
 * Only values are expanded, never keys. A plain (unquoted, untagged) scalar that is exactly one `${env:…}` gets
 * the type YAML would have given the expanded text, so `port: ${env:PORT}` with PORT=4318 is the number 4318
 * and `insecure: ${env:INSECURE}` a boolean; quote it (`"${env:PORT}"`) to keep a string. Empty text stays `""`.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvProblem {
  /** The reference as written, e.g. `${env:PORT}`, to find its column. */
  readonly token: string;
  readonly message: string;
}

export interface Expansion {
  readonly value: string;
  readonly problems: readonly EnvProblem[];
  /** The text was exactly one `${env:…}` reference (and nothing else). */
  readonly whole: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_REF = /^env:([^:]*)(?::-([\s\S]*))?$/;
const PROVIDER_REF = /^([A-Za-z][A-Za-z0-9_]*):/;

/** Expands the references in one scalar's text. Unresolvable references stay as written in `value`. */
export function expandEnvText(text: string, env: Env): Expansion {
  if (!text.includes('$')) return { value: text, problems: [], whole: false };
  const problems: EnvProblem[] = [];
  let out = '';
  let i = 0;
  let refs = 0;
  let literal = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      literal = true;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      literal = true;
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += '$';
      literal = true;
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      problems.push({
        token: text.slice(i),
        message: `unterminated "\${" in "${text}": write \${env:NAME}, or $\${ for a literal "\${"`,
      });
      out += text.slice(i);
      literal = true;
      break;
    }
    const token = text.slice(i, close + 1);
    const inner = text.slice(i + 2, close);
    i = close + 1;
    refs++;
    const resolved = resolveRef(token, inner, env, problems);
    out += resolved ?? token;
  }
  return { value: out, problems, whole: refs === 1 && !literal };
}

function resolveRef(token: string, inner: string, env: Env, problems: EnvProblem[]): string | undefined {
  const m = ENV_REF.exec(inner);
  if (m) {
    const name = m[1]!;
    const fallback = m[2];
    if (!NAME.test(name)) {
      problems.push({ token, message: `"${name}" in ${token} is not an environment variable name: use letters, digits and _` });
      return undefined;
    }
    const value = env[name];
    if (fallback !== undefined && (value === undefined || value === '')) return fallback;
    if (value === undefined) {
      problems.push({
        token,
        message: `environment variable ${name} is not set: set it, or give a default with \${env:${name}:-default}`,
      });
      return undefined;
    }
    return value;
  }
  if (NAME.test(inner)) {
    problems.push({
      token,
      message: `${token} is not expanded: write \${env:${inner}} for the environment variable, or $${token} for the literal text`,
    });
    return undefined;
  }
  const provider = PROVIDER_REF.exec(inner)?.[1];
  problems.push({
    token,
    message:
      provider === undefined
        ? `${token} is not a valid reference: write \${env:NAME} or \${env:NAME:-default}, or $${token} for the literal text`
        : `${token}: the "${provider}" provider is not supported; only \${env:NAME} is`,
  });
  return undefined;
}

const INT_DEC = /^[-+]?[0-9]+$/;
const INT_OCT = /^0o[0-7]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INF = /^([-+]?)\.(inf|Inf|INF)$/;
const NAN = /^\.(nan|NaN|NAN)$/;
const TRUE = /^(true|True|TRUE)$/;
const FALSE = /^(false|False|FALSE)$/;

/**
 * The number or boolean the YAML 1.2 core schema reads `text` as, or the text itself. (Null is deliberately not
 * produced: an empty or `null` environment value stays a string, so a missing value is never silently "unset".)
 */
export function typeLikeYaml(text: string): string | number | boolean {
  if (TRUE.test(text)) return true;
  if (FALSE.test(text)) return false;
  if (INT_DEC.test(text) || FLOAT.test(text)) return Number(text);
  if (INT_OCT.test(text)) return parseInt(text.slice(2), 8);
  if (INT_HEX.test(text)) return parseInt(text.slice(2), 16);
  const inf = INF.exec(text);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  if (NAN.test(text)) return NaN;
  return text;
}
