import type { ConnectorFactory } from '../../core/component.js';
import { loadJourneys } from '../../journeys/definition/load.js';
import { openJourneySource } from '../shared/relayed-source.js';
import { journeysConnectorConfigSchema, type JourneysConnectorConfig } from './config.js';
import { JourneysConnector } from './connector.js';

export const journeysConnectorFactory: ConnectorFactory<JourneysConnectorConfig> = {
  kind: 'connector',
  type: 'journeys',
  description:
    'Recognises journey attempts (YAML definitions) in the span stream: tags matching spans and forwards traces at once, assembles attempts across services, and derives SLI windows by segment',
  configSchema: journeysConnectorConfigSchema,
  inputs: ['traces'],
  outputs: ['traces', 'attempts', 'journey_metrics'],
  // `pulse validate` and start-up check the journey files the config points at, with positions in those files
  // (warnings carry severity 'warning' and do not stop a start).
  validateExternal: (config) => {
    const loaded = loadJourneys(config.directory);
    return [...('issues' in loaded ? loaded.issues : []), ...loaded.warnings];
  },
  create: (settings, config, outputs) =>
    new JourneysConnector(settings, config, outputs, {
      openSource: (directory, options) => openJourneySource(settings, directory, options),
    }),
};
