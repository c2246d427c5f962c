/**
 * Layer rules of the hexagon, checked by `npm run depcruise` (part of `npm test`).
 *
 *   domain/    pure business rules: imports nothing but other domain modules
 *   ports/     interfaces shaped by the domain: imports domain only
 *   src/app/   use cases: orchestrate ports, import domain and ports only
 *   adapters/  the only place an SDK or Node's I/O modules are imported
 *   src/main.ts, src/compose.ts: the one composition root that wires adapters to ports
 *   adapters/outside-api/: the resilience every outside API shares (breaker, rate budget,
 *     timeout, pause); the only importer of opossum, and it knows no protocol adapter
 *   adapters/nats/runner/middleware/: the consumer runner's middleware, which import no adapter
 *   src/app/kernel/: the consumers' kernel, which knows no particular consumer
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'The domain imports only other domain modules: no ports, adapters, SDKs or Node built-ins.',
      severity: 'error',
      from: { path: '^domain/' },
      to: { pathNot: '^domain/' },
    },
    {
      name: 'ports-depend-on-domain-only',
      comment: 'Ports are interfaces over domain types; they import domain and other ports only.',
      severity: 'error',
      from: { path: '^ports/' },
      to: { pathNot: '^(domain|ports)/' },
    },
    {
      name: 'use-cases-depend-on-domain-and-ports',
      comment: 'Use cases orchestrate ports; they never import an adapter, an SDK or Node I/O.',
      severity: 'error',
      from: { path: '^src/app/' },
      to: { pathNot: '^(domain|ports|src/app)/' },
    },
    {
      name: 'sdks-only-in-adapters',
      comment: 'npm packages are imported by adapters only (the composition root wires adapters, it does not call SDKs).',
      severity: 'error',
      from: { pathNot: '^(adapters|test|scripts)/' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'adapters-do-not-reach-into-the-root',
      comment: 'Adapters implement ports; they never import the composition root or use cases.',
      severity: 'error',
      from: { path: '^adapters/' },
      to: { path: '^src/' },
    },
    {
      name: 'opossum-only-in-the-outside-api-wrapper',
      comment:
        'The circuit breaker library is a detail of adapters/outside-api: an outside API gets its breaker (and its rate budget, timeout and pause) from the wrapper, never one of its own.',
      severity: 'error',
      from: { pathNot: '^adapters/outside-api/' },
      // Resolved through node_modules, which may be a symlink to another checkout's.
      to: { path: '(^|/)node_modules/(@types/)?opossum/' },
    },
    {
      name: 'outside-api-wrapper-knows-no-provider',
      comment: 'adapters/outside-api serves any outside API, so it imports no protocol adapter: adapters/providers uses it, never the reverse.',
      severity: 'error',
      from: { path: '^adapters/outside-api/' },
      to: { path: '^adapters/providers/' },
    },
    {
      name: 'runner-middleware-imports-no-adapter',
      comment:
        'The runner\'s middleware (adapters/nats/runner/middleware/) see a message and its settlement through their own types: no other adapter, no broker SDK; OpenTelemetry\'s API only, for the tracing middleware.',
      severity: 'error',
      from: { path: '^adapters/nats/runner/middleware/' },
      to: {
        pathNot: '^(adapters/nats/runner/middleware|domain|ports)/|node_modules/@opentelemetry/api/',
      },
    },
    {
      name: 'kernel-knows-no-consumer',
      comment: 'The kernel (src/app/kernel/) derives everything from the declarations it is given: it imports no consumer.',
      severity: 'error',
      from: { path: '^src/app/kernel/' },
      to: { path: '^src/app/(consumers|reconciler|submit-campaign|preview-import)' },
    },
    {
      name: 'protocol-adapters-have-no-resilience-of-their-own',
      comment: 'Provider and webhook adapters speak their protocol only; breakers, budgets and pauses come from adapters/outside-api/.',
      severity: 'error',
      from: { path: '^adapters/(providers|webhooks)/' },
      to: { path: '^adapters/outside-api/(breaker|limiter|gate|resilient-api)' },
    },
    {
      name: 'production-code-does-not-import-tests',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
