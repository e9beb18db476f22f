/**
 * The simulations' settings from the environment. A value that is not a number ≥ 0 stops the run with its name:
 * `Number('2h')` is NaN, and a NaN duration simulates nothing and prints "0 false alerts" as if measured.
 */
export function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}=${raw}: expected a number ≥ 0 (default ${fallback})`);
  return v;
}

/** A comma-separated list of numbers ≥ 0 (`SIM_RATES=60,300`). */
export function settings(name: string, fallback: string): number[] {
  const raw = process.env[name];
  const text = raw === undefined || raw === '' ? fallback : raw;
  return text.split(',').map((part) => {
    const v = Number(part.trim());
    if (part.trim() === '' || !Number.isFinite(v) || v < 0) throw new Error(`${name}=${raw}: expected numbers ≥ 0 separated by commas (default ${fallback})`);
    return v;
  });
}
