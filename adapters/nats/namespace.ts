import { DEFAULT_LEAD_FILE_BUCKET } from './file-store.ts';
import { DEFAULT_PROVIDER_BUCKET } from './provider-status.ts';
import { DEFAULT_STREAM_NAME } from './topology.ts';

export interface NatsNames {
  /** Subject prefix: '' or `<namespace>.`. */
  readonly prefix: string;
  readonly streamName: string;
  readonly bucket: string;
  /** KV bucket of the providers' shared rate budget and pause/circuit state. */
  readonly providerBucket: string;
}

/**
 * The NATS names of one deployment. A namespace keeps several deployments (or test runs) apart
 * on one server; without one the default names are used.
 */
export function natsNames(namespace?: string): NatsNames {
  if (namespace === undefined) {
    return { prefix: '', streamName: DEFAULT_STREAM_NAME, bucket: DEFAULT_LEAD_FILE_BUCKET, providerBucket: DEFAULT_PROVIDER_BUCKET };
  }
  return {
    prefix: `${namespace}.`,
    // Stream names may not hold '.', and upper case keeps them apart from subjects at a glance.
    streamName: `${DEFAULT_STREAM_NAME}_${namespace.toUpperCase().replaceAll('-', '_')}`,
    bucket: `${DEFAULT_LEAD_FILE_BUCKET}-${namespace}`,
    providerBucket: `${DEFAULT_PROVIDER_BUCKET}-${namespace}`,
  };
}
