/**
 * Immutability for the validated config: it is shared by every component for the life of the process, and a
 * component that changed it would change it for all. `Object.freeze` cannot stop `Map#set`, so maps are
 * `FrozenMap`s, which throw on any change.
 */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]> = []) {
    super();
    for (const [k, v] of entries) super.set(k, v);
    Object.freeze(this);
  }

  override set(): this {
    throw new TypeError('PULSE_ERR_CONFIG_FROZEN: the loaded config is read-only');
  }

  override delete(): boolean {
    throw new TypeError('PULSE_ERR_CONFIG_FROZEN: the loaded config is read-only');
  }

  override clear(): void {
    throw new TypeError('PULSE_ERR_CONFIG_FROZEN: the loaded config is read-only');
  }
}

/**
 * Freezes plain objects and arrays, recursively. Other objects (class instances a schema may produce, such as
 * Buffers or RegExps) are left alone: freezing them would break them or throw.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
