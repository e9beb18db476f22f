import type { ConnectorFactory } from '../../core/component.js';
import type { ConfigIssue } from '../../config/model.js';
import { loadJourneys } from '../../journeys/definition/load.js';
import { openJourneySource } from '../shared/relayed-source.js';
import { alertRulesOf, neverFiringPairs } from '../../alerts/rules.js';
import { sloConnectorConfigSchema, type SloConnectorConfig } from './config.js';
import { SloConnector } from './connector.js';
import { ClickHouseHistory } from './history.js';

export const sloConnectorFactory: ConnectorFactory<SloConnectorConfig> = {
  kind: 'connector',
  type: 'slo',
  description:
    'Evaluates the journeys\' objectives and alert rules (multi-window burn rates, segments, heartbeat, release regressions) from SLI rows and attempts, and emits alert events with ranked suspects',
  configSchema: sloConnectorConfigSchema,
  inputs: ['journey_metrics', 'attempts'],
  outputs: ['alerts'],
  ownInput: (config) =>
    config.clickhouse?.follow === undefined
      ? undefined
      : `reads the SLI rows and attempts of every gateway from ClickHouse (clickhouse.follow at ${config.clickhouse.endpoint})`,
  // The same directory as the journeys connector: the loader reports its problems once. Alert rules that can
  // never fire are warnings at the journey's document.
  validateExternal: (config) => {
    const loaded = loadJourneys(config.directory);
    if ('issues' in loaded) return [...loaded.issues, ...loaded.warnings];
    const warnings: ConfigIssue[] = [...loaded.warnings];
    for (const j of loaded.snapshot.journeys) {
      for (const p of neverFiringPairs(alertRulesOf(j))) {
        warnings.push({
          file: j.source.file,
          line: j.source.line,
          col: 1,
          severity: 'warning',
          message:
            `journey ${j.name}: the ${p.severity} burn rate ${p.long}/${p.short} with factor ${p.factor} can never fire: ` +
            `factor × (1 − target) = ${(p.factor * (1 - j.objective.target)).toFixed(3)} is not below 1 (a 100% error rate); lower the factor or the target`,
        });
      }
    }
    return warnings;
  },
  create: (settings, config, outputs) =>
    new SloConnector(settings, config, outputs, {
      openSource: (directory, options) => openJourneySource(settings, directory, options),
      history: config.clickhouse ? new ClickHouseHistory(config.clickhouse) : undefined,
    }),
};
