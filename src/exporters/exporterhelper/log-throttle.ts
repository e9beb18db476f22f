/**
 * The throttle moved to src/core/log-throttle.ts (receivers and exporters share it). This re-export only keeps
 * `src/exporters/debug/jsonl-file.ts` building until it imports from core (or from this folder's index.ts);
 * delete this file then.
 */
export { LogThrottle } from '../../core/log-throttle.js';
