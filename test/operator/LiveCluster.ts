/**
 * Test support for the commands that read a live cluster (`snapshot`, `explain`): the embedded cluster `dev` serves,
 * an in-memory API server behind the HTTP façade, seeded from manifests; the commands reach it with the live client
 * over HTTP, and every write request that reaches the API server is counted.
 */
import { NodeServices } from "@effect/platform-node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as LiveKube from "../../layers/kube/live/LiveKubeClient.ts"
import * as MemoryKube from "../../layers/kube/memory/MemoryKubeClient.ts"
import * as HttpApi from "../../src/cluster/http/HttpApi.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Cli from "../../src/operator/Cli.ts"
import * as Manifests from "../../src/operator/Manifests.ts"

/** The API server's client, counting every write (create, replace, patch, delete, evict, bind) it receives. */
const counting = (writes: { count: number }) =>
  Layer.effect(
    KubeClient,
    Effect.map(KubeClient, (inner) => {
      const count = <A extends ReadonlyArray<never>, B>(call: (...args: A) => B) =>
        ((...args: A) => {
          writes.count++
          return call(...args)
        }) as typeof call
      return KubeClient.of({
        ...inner,
        create: count(inner.create as never),
        replace: count(inner.replace as never),
        patch: count(inner.patch as never),
        delete: count(inner.delete as never),
        evict: count(inner.evict as never),
        bind: count(inner.bind as never)
      })
    })
  )

/** Creates every object of the manifests, then writes the status it carries (the status subresource's way). */
const seed = (text: string) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const manifests = yield* Manifests.parse("seed.yaml", text)
    for (const { resource, object } of Manifests.objects(manifests)) {
      const where = resource.namespaced ? { namespace: object.metadata.namespace ?? "default" } : {}
      if (resource.namespaced) {
        yield* kube
          .create(Resources.Namespaces, { metadata: { name: where.namespace } } as never)
          .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
      }
      yield* kube.create(resource, object as never, where)
      const status = (object as { status?: unknown }).status
      if (status !== undefined) {
        yield* kube.patch(
          resource,
          object.metadata.name ?? "",
          { type: "merge", patch: { status } },
          { ...where, subresource: "status" }
        )
      }
    }
  })

/** A running cluster seeded with `text`, and a way to run command lines against it. */
export interface LiveCluster {
  /** Runs a command line (as bin.ts would: the live client from `cluster`), capturing what it prints. */
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<string, unknown>
  /** Write requests the API server received since seeding. */
  readonly writes: () => number
}

/** Runs `body` against a fresh cluster seeded with the manifests `text`. */
export const withLiveCluster = <A, E>(text: string, body: (cluster: LiveCluster) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const writes = { count: 0 }
    const memory = MemoryKube.layer()
    const backend = yield* Layer.build(memory)
    yield* seed(text).pipe(Effect.provide(backend), Effect.orDie)
    const served = yield* HttpApi.serve().pipe(
      Effect.provide(Layer.provide(counting(writes), Layer.succeedContext(backend)))
    )
    const live = yield* LiveKube.make({ server: served.url, requestTimeout: "5 seconds", retries: 0 })
    const environment: Cli.Environment<never> = {
      simulation: () => Layer.empty as never,
      cluster: () => Layer.succeed(KubeClient, live),
      controller: () => Effect.void,
      dev: () => Effect.void,
      env: {}
    }
    const run = (args: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const console: Console.Console = { ...globalThis.console, log: (...parts) => void lines.push(parts.join(" ")) }
        yield* Cli.run(environment)(args).pipe(
          Effect.provideService(Console.Console, console),
          Effect.provideService(Logger.LogToStderr, true),
          Effect.provideService(References.MinimumLogLevel, "Warn"),
          Effect.provide(NodeServices.layer)
        )
        return lines.join("\n")
      })
    return yield* body({ run, writes: () => writes.count })
  }).pipe(Effect.scoped)
