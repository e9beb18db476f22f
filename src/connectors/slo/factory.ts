import type { ConnectorFactory } from '../../core/component.js';
import { loadJourneys } from '../../journeys/definition/load.js';
import { openJourneySource } from '../shared/relayed-source.js';
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
  // The same directory as the journeys connector: the loader reports its problems once (alert rules that can
  // never fire among its warnings).
  validateExternal: (config) => {
    const loaded = loadJourneys(config.directory);
    return [...('issues' in loaded ? loaded.issues : []), ...loaded.warnings];
  },
  create: (settings, config, outputs) =>
    new SloConnector(settings, config, outputs, {
      openSource: (directory, options) => openJourneySource(settings, directory, options),
      history: config.clickhouse ? new ClickHouseHistory(config.clickhouse) : undefined,
    }),
};
