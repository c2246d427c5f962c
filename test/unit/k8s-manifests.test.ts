/**
 * deploy/k8s: renders the kustomization offline and validates every object against the
 * Kubernetes schemas (kubernetes-models, whose validators are compiled from the Kubernetes
 * OpenAPI schemas) and the KEDA ScaledObject against KEDA's CRD schema (@kubernetes-models/keda).
 * Like kubectl's default validation, these check types, enums and required fields; they do not
 * reject unknown fields.
 *
 * Rendering: no kustomize is installed by `npm ci`, so `renderKustomization` below implements the
 * subset of kustomize the manifests use (resources, namespace, labels, images, replicas, JSON 6902
 * patches) and fails on anything else. Where `kubectl` is installed, a test checks that its
 * output equals `kubectl kustomize`'s.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { natsNames } from '../../adapters/nats/namespace.ts';
import { planConsumers } from '../../adapters/nats/topology.ts';
import { CONSUMERS } from '../../src/app/consumers/index.ts';
import { PROCESS_ROLES, topologyOf } from '../../src/app/kernel/assemble.ts';
import { loadSystemConfig } from '../../src/compose.ts';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: unknown };
type Json = Record<string, unknown>;

const K8S = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy/k8s');
const KUSTOMIZATIONS = ['base', 'overlays/production'];
const CLUSTER_SCOPED = new Set(['Namespace']);
const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'replicas', 'patches']);

function readYaml(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map(String).join('; ')}`);
    return doc.toJS() as K8sObject;
  }).filter((object) => object !== null);
}

function containersOf(object: K8sObject): Json[] {
  const pod = ((object.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined;
  return [...((pod?.containers as Json[] | undefined) ?? []), ...((pod?.initContainers as Json[] | undefined) ?? [])];
}

function pointer(path: string): string[] {
  return path.split('/').slice(1).map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function applyJsonPatch(object: Json, ops: { op: string; path: string; value?: unknown }[]): void {
  for (const { op, path, value } of ops) {
    if (op !== 'replace' && op !== 'add') throw new Error(`JSON patch op "${op}" is not supported by this renderer`);
    const parts = pointer(path);
    const last = parts.pop()!;
    let node: Json = object;
    for (const part of parts) node = node[part] as Json;
    if (op === 'replace' && !(last in node)) throw new Error(`replace of a missing path ${path}`);
    node[last] = structuredClone(value);
  }
}

/** The subset of kustomize the manifests use; throws on a field it does not implement. */
export function renderKustomization(dir: string): K8sObject[] {
  const [k] = readYaml(join(dir, 'kustomization.yaml')) as unknown as Json[];
  for (const field of Object.keys(k!)) if (!KNOWN_FIELDS.has(field)) throw new Error(`${dir}: kustomization field "${field}" is not supported by this renderer`);
  const objects = (k!.resources as string[]).flatMap((resource) => {
    const path = join(dir, resource);
    return statSync(path).isDirectory() ? renderKustomization(path) : readYaml(path);
  });
  for (const object of objects) {
    if (typeof k!.namespace === 'string' && !CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = k!.namespace;
    for (const { pairs, ...rest } of (k!.labels as { pairs: Record<string, string> }[] | undefined) ?? []) {
      if (Object.keys(rest).length > 0) throw new Error(`labels options ${Object.keys(rest).join(', ')} are not supported by this renderer`);
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
    }
    for (const image of (k!.images as { name: string; newName?: string; newTag?: string }[] | undefined) ?? []) {
      for (const container of containersOf(object)) {
        const [name, tag] = (container.image as string).split(':');
        if (name !== image.name) continue;
        const newTag = image.newTag ?? tag;
        container.image = `${image.newName ?? name}${newTag === undefined ? '' : `:${newTag}`}`;
      }
    }
    for (const { name, count } of (k!.replicas as { name: string; count: number }[] | undefined) ?? []) {
      if (object.metadata.name === name && ['Deployment', 'StatefulSet'].includes(object.kind)) (object.spec as Json).replicas = count;
    }
  }
  for (const { target, patch } of (k!.patches as { target: { group?: string; version: string; kind: string; name: string }; patch: string }[] | undefined) ?? []) {
    const apiVersion = target.group === undefined ? target.version : `${target.group}/${target.version}`;
    const matches = objects.filter((object) => object.apiVersion === apiVersion && object.kind === target.kind && object.metadata.name === target.name);
    if (matches.length !== 1) throw new Error(`${dir}: patch target ${target.kind}/${target.name} matches ${matches.length} objects`);
    applyJsonPatch(matches[0]!, parse(patch) as { op: string; path: string; value?: unknown }[]);
  }
  return objects;
}

const rendered = Object.fromEntries(KUSTOMIZATIONS.map((dir) => [dir, renderKustomization(join(K8S, dir))]));
const byKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => byKind(objects, kind).find((object) => object.metadata.name === name);

type Model = new (data: never) => { validate(): void };
/** The schema of every kind the manifests use, by apiVersion and kind; a kind missing here fails the test. */
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

function modelOf(object: K8sObject): { validate(): void } {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  // Each model sets apiVersion and kind itself: validate what the manifest says, not the model's.
  const model = new Model(object as never) as { validate(): void } & Record<string, unknown>;
  expect({ apiVersion: model.apiVersion, kind: model.kind }).toEqual({ apiVersion: object.apiVersion, kind: object.kind });
  return model;
}

describe.each(KUSTOMIZATIONS)('deploy/k8s/%s', (dir) => {
  const objects = rendered[dir]!;

  it('renders, and every object is valid against its Kubernetes or KEDA schema', () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const object of objects) {
      const model = modelOf(object);
      expect(() => model.validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it('has a Deployment for the edge, the relay, the reconciler and every consumer, each with its ROLES, probes, resources and a PodDisruptionBudget', () => {
    const roles = [...PROCESS_ROLES, ...CONSUMERS.map((consumer) => consumer.name)];
    expect(byKind(objects, 'Deployment').map((d) => d.metadata.name).sort()).toEqual([...roles].sort());
    for (const role of roles) {
      const deployment = named(objects, 'Deployment', role)!;
      const [container] = containersOf(deployment);
      expect((container!.env as { name: string; value?: string }[]).find((env) => env.name === 'ROLES')?.value).toBe(role);
      expect(container!.livenessProbe, role).toBeDefined();
      expect((container!.resources as Json).requests, role).toBeDefined();
      const pod = ((deployment.spec as Json).template as Json).spec as Json;
      expect(pod.terminationGracePeriodSeconds as number, role).toBeGreaterThanOrEqual(30);
      const selector = ((deployment.spec as Json).selector as Json).matchLabels;
      expect(byKind(objects, 'PodDisruptionBudget').some((pdb) => isDeepStrictEqual((pdb.spec as Json).selector, { matchLabels: selector })), `PDB for ${role}`).toBe(true);
    }
    const edge = containersOf(named(objects, 'Deployment', 'edge')!)[0]!;
    expect(edge.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    expect(edge.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    expect(named(objects, 'Service', 'edge')).toBeDefined();
  });

  it('each process configuration is one the service accepts (ConfigMap + secrets + its ROLES)', () => {
    const data = (named(objects, 'ConfigMap', 'aga-config')!.data as Record<string, string>);
    for (const deployment of byKind(objects, 'Deployment')) {
      const env: Record<string, string> = { ...data };
      for (const variable of containersOf(deployment)[0]!.env as { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }[]) {
        if (variable.value !== undefined) env[variable.name] = variable.value;
        else {
          expect(variable.valueFrom?.secretKeyRef.name, variable.name).toBe('aga-secrets');
          expect(variable.valueFrom?.secretKeyRef.key).toBe(variable.name);
        }
      }
      Object.assign(env, { DATABASE_URL: 'postgres://u:p@db:5432/aga', SUPABASE_JWT_SECRET: 'x'.repeat(32), PERPLEXITY_API_KEY: 'k', OPENROUTER_API_KEY: 'k' });
      expect(() => loadSystemConfig(env), deployment.metadata.name).not.toThrow();
    }
  });

  it('a ScaledObject per consumer, on the lag of every durable consumer the topology creates for it', () => {
    const namespace = (named(objects, 'ConfigMap', 'aga-config')!.data as Record<string, string>).NATS_NAMESPACE;
    const names = natsNames(namespace);
    const planned = planConsumers(topologyOf(CONSUMERS), names.prefix);
    const natsService = named(objects, 'Service', 'nats')!;
    expect(byKind(objects, 'ScaledObject').map((s) => s.metadata.name).sort()).toEqual(CONSUMERS.map((c) => c.name).sort());
    for (const consumer of CONSUMERS) {
      const scaled = named(objects, 'ScaledObject', consumer.name)!;
      const spec = scaled.spec as { scaleTargetRef: { name: string }; triggers: { type: string; metadata: Record<string, string> }[] };
      expect(spec.scaleTargetRef.name).toBe(consumer.name);
      expect(spec.triggers.map((trigger) => trigger.metadata.consumer).sort()).toEqual(planned.filter((p) => p.declaration.name === consumer.name).map((p) => p.name).sort());
      for (const trigger of spec.triggers) {
        expect(trigger.type).toBe('nats-jetstream');
        expect(trigger.metadata).toMatchObject({ stream: names.streamName, account: '$G', natsServerMonitoringEndpoint: `nats.${natsService.metadata.namespace}.svc.cluster.local:8222` });
        expect(Number(trigger.metadata.lagThreshold)).toBeGreaterThan(0);
      }
    }
  });

  it('NATS: three JetStream nodes, clustered, fsyncing every write', () => {
    const nats = named(objects, 'StatefulSet', 'nats')!;
    expect((nats.spec as Json).replicas).toBe(3);
    // The service replicates its streams and buckets on every node.
    expect((named(objects, 'ConfigMap', 'aga-config')!.data as Record<string, string>).NATS_REPLICAS).toBe('3');
    const conf = (named(objects, 'ConfigMap', 'nats-config')!.data as Record<string, string>)['nats.conf']!;
    expect(conf).toMatch(/sync_interval: always/);
    expect(conf.match(/nats:\/\/nats-\d\.nats-headless\.aga\.svc:6222/g)).toHaveLength(3);
    expect(byKind(objects, 'PodDisruptionBudget').some((pdb) => pdb.metadata.name === 'nats')).toBe(true);
  });

  it('no Secret is shipped in the kustomization', () => {
    expect(byKind(objects, 'Secret')).toEqual([]);
  });

  it.skipIf(!hasKubectl())('equals `kubectl kustomize` (kubectl is installed here)', () => {
    const key = (object: K8sObject) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const theirs = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8' })).map((doc) => doc.toJS() as K8sObject);
    const sort = (list: K8sObject[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(objects)).toEqual(sort(theirs));
  });
});

describe('deploy/k8s/secret.example.yaml', () => {
  it('is a valid Secret with every key the Deployments reference', () => {
    const [secret] = readYaml(join(K8S, 'secret.example.yaml'));
    expect(() => new Secret(secret as never).validate()).not.toThrow();
    const keys = new Set(byKind(rendered.base!, 'Deployment').flatMap((d) => (containersOf(d)[0]!.env as { valueFrom?: { secretKeyRef?: { key: string } } }[]).flatMap((env) => env.valueFrom?.secretKeyRef?.key ?? [])));
    expect(Object.keys(secret!.stringData as Json).sort()).toEqual([...keys].sort());
  });
});

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return existsSync(K8S);
  } catch {
    return false;
  }
}
