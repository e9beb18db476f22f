/**
 * scripts/infra/process-control.mjs `startOnPorts`: the retry every test server's start relies on when a port it
 * picked free was taken by another test worker before the server could bind it.
 */
import { describe, expect, it } from 'vitest';
import { startOnPorts } from '../../../scripts/infra/process-control.mjs';

const conflict = () => Object.assign(new Error('PULSE_ERR_INFRA_START: Address already in use'), { portConflict: true });

describe('startOnPorts', () => {
  it('tries again on fresh ports after a bind race, keeping the ports that were given', async () => {
    const tried: Array<Record<string, number>> = [];
    const logged: string[] = [];
    let cleanups = 0;
    const result = await startOnPorts({
      keys: ['httpPort', 'tcpPort'],
      ports: { tcpPort: 40001 },
      startOnce: async (ports) => {
        tried.push(ports);
        if (tried.length < 3) throw conflict();
        return 'started';
      },
      log: (m) => logged.push(m),
      beforeRetry: () => cleanups++,
    });
    expect(result).toBe('started');
    expect(tried).toHaveLength(3);
    for (const p of tried) expect(p.tcpPort).toBe(40001);
    expect(new Set(tried.map((p) => p.httpPort)).size).toBe(3);
    expect(cleanups).toBe(2);
    expect(logged[0]).toMatch(/^start failed, retrying with other ports: PULSE_ERR_INFRA_START/);
  });

  it('gives up after three attempts, at once for other errors, and never moves ports that were all given', async () => {
    let calls = 0;
    const failing = { keys: ['httpPort'], log: () => {}, startOnce: async () => (calls++, Promise.reject(conflict())) };
    await expect(startOnPorts(failing)).rejects.toThrow(/Address already in use/);
    expect(calls).toBe(3);

    calls = 0;
    await expect(startOnPorts({ ...failing, ports: { httpPort: 40002 } })).rejects.toThrow(/Address already in use/);
    expect(calls).toBe(1);

    calls = 0;
    const broken = { keys: ['httpPort'], log: () => {}, startOnce: async () => (calls++, Promise.reject(new Error('bad config'))) };
    await expect(startOnPorts(broken)).rejects.toThrow('bad config');
    expect(calls).toBe(1);
  });
});
