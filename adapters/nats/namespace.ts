import { DEFAULT_LEAD_FILE_BUCKET } from './file-store.ts';
import { DEFAULT_API_BUCKET } from './api-status.ts';
import { DEFAULT_STREAM_NAME } from './topology.ts';

export interface NatsNames {
  /** Subject prefix: '' or `<namespace>.`. */
  readonly prefix: string;
  readonly streamName: string;
  readonly bucket: string;
  /** KV bucket of the outside APIs' shared rate budgets and pause/circuit states. */
  readonly apiBucket: string;
}

/**
 * The NATS names of one deployment. A namespace keeps several deployments (or test runs) apart
 * on one server; without one the default names are used.
 */
export function natsNames(namespace?: string): NatsNames {
  if (namespace === undefined) {
    return { prefix: '', streamName: DEFAULT_STREAM_NAME, bucket: DEFAULT_LEAD_FILE_BUCKET, apiBucket: DEFAULT_API_BUCKET };
  }
  return {
    prefix: `${namespace}.`,
    // Stream names may not hold '.', and upper case keeps them apart from subjects at a glance.
    streamName: `${DEFAULT_STREAM_NAME}_${namespace.toUpperCase().replaceAll('-', '_')}`,
    bucket: `${DEFAULT_LEAD_FILE_BUCKET}-${namespace}`,
    apiBucket: `${DEFAULT_API_BUCKET}-${namespace}`,
  };
}
