// The alert events as a consumer of Pulse's alert topic sees them: a kafkajs consumer (in a group of its own, from
// the beginning of the topic) reads the CloudEvents Pulse's kafka exporter published (docs/alerts.md), and this
// module turns them into the lines the demo prints.
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { percent } from './terminal.mjs';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

/**
 * Subscribes to `topic` and calls `onEvent(cloudEvent, { topic, partition, offset, key })` for every message, in order.
 * The topic is created first (one partition, as the broker's defaults), so the subscription does not depend on
 * whether Pulse or the consumer gets there first.
 * @returns {Promise<{ close: () => Promise<void> }>}
 */
export async function readAlertTopic({ brokers, topic, onEvent, onError }) {
  const kafka = new kafkajs.Kafka({ clientId: 'pulse-demo', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
  } catch {
    /* created meanwhile by Pulse's exporter: fine */
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId: `pulse-demo-${randomUUID()}`, sessionTimeout: 6000, heartbeatInterval: 500, maxWaitTimeInMs: 250 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      try {
        onEvent(JSON.parse(message.value?.toString('utf8') ?? 'null'), { topic, partition, offset: Number(message.offset), key: message.key?.toString('utf8') ?? '' });
      } catch (err) {
        onError?.(err);
      }
    },
  });
  return { close: () => consumer.disconnect() };
}

/** `service.version:payments` = `2.5.0` → `payments 2.5.0`; `customer.tier` = `enterprise` → `customer.tier=enterprise`. */
export function suspectName(s) {
  if (s.dimension.startsWith('service.version:')) return `${s.dimension.slice('service.version:'.length)} ${s.value}`;
  if (s.dimension === 'service') return `service ${s.value}`;
  if (s.dimension === 'failing_step') return `step ${s.value}`;
  return `${s.dimension}=${s.value}`;
}

/** What an alert is about, e.g. `checkout · segment customer.tier=enterprise`. */
export function alertSubject(a) {
  const about = a.segment ? ` ${a.segment.key}=${a.segment.value}` : a.release ? ` ${a.release.service} ${a.release.new_version}` : '';
  return `${a.journey} · ${a.kind}${about}`;
}

/**
 * The lines printed for the first firing event of an alert: headline, summary, burn rates, ranked suspects,
 * exemplar traces, owner and runbook.
 * @param {any} event  the CloudEvent
 * @param {{ topic: string, partition: number, offset: number }} where
 * @param {string} sinceFault  e.g. `12.3 s after the fault`, or ''
 */
export function describeFiring(event, where, sinceFault, paint) {
  const a = event.data;
  const lines = [
    paint('red', paint('bold', `▲ ALERT firing · ${a.severity} · ${alertSubject(a)}`)) +
      paint('dim', `   read from Kafka topic ${where.topic} (partition ${where.partition}, offset ${where.offset})${sinceFault ? `, ${sinceFault}` : ''}`),
    `  ${a.summary}`,
  ];
  if (a.burn_rates.length > 0) {
    // (error_budget_remaining is left out: over the minute or two of history a demo has, it says little.)
    const rates = a.burn_rates.map((b) => `${b.window} ${b.burn_rate.toFixed(1)}× (threshold ${b.threshold}×)`).join(' · ');
    lines.push(`  burn rates: ${rates}`);
  }
  if (a.suspects.length > 0) {
    lines.push('  suspects, most likely cause first:');
    const width = Math.max(...a.suspects.map((s) => `${s.dimension} = ${s.value}`.length));
    a.suspects.forEach((s, i) => {
      const name = `${s.dimension} = ${s.value}`.padEnd(width);
      const text =
        `    ${i + 1}. ${name}   ${percent(s.failure_ratio, 0)} of its ${s.attempts} attempts failed · ` +
        `${percent(s.share_of_failures, 0)} of all failures · lift ${s.lift === null ? '–' : s.lift.toFixed(1)}`;
      lines.push(i === 0 ? paint('bold', text) : text);
    });
  } else {
    lines.push('  suspects: none stood out');
  }
  if (a.exemplar_trace_ids.length > 0) lines.push(`  exemplar traces: ${a.exemplar_trace_ids.slice(0, 3).join(', ')}`);
  lines.push(paint('dim', `  owner ${a.owner || '–'} · runbook ${a.runbook || '–'} · fingerprint ${a.fingerprint} · event id ${event.id}`));
  return lines;
}

/** One line for a resolved event. */
export function describeResolved(event, firedForMs, paint) {
  const a = event.data;
  const lasted = firedForMs === undefined ? '' : ` after ${(firedForMs / 1000).toFixed(0)} s`;
  return [paint('green', paint('bold', `✔ RESOLVED · ${alertSubject(a)}${lasted}`)) + paint('dim', '   read from Kafka'), `  ${a.summary}`];
}

/** One line for a repeated firing event (re-sent every repeat_interval while the alert holds). */
export function describeRepeat(event, paint) {
  const a = event.data;
  return [paint('yellow', `↻ still firing · ${a.severity} · ${alertSubject(a)}: ${a.summary}`)];
}
