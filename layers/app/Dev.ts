/**
 * `dev`: the embedded cluster in real time — the in-memory API server served over HTTPS on 127.0.0.1 (kubectl and the
 * `controller` command connect to it), the emulated control plane, the KWOK provider and, unless `--no-controllers`,
 * Karpenter's controllers (this process always leads). Prints where everything is, then runs until SIGINT/SIGTERM.
 *
 * Unless `--insecure`, the API is served over TLS with a certificate made at start, and requires a bearer token drawn
 * at start: both are found only in the kubeconfig written here, readable by its owner only.
 */
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Path from "effect/Path"
import * as Catalog from "../../src/cloudprovider/Catalog.ts"
import * as ControlPlane from "../../src/cluster/ControlPlane.ts"
import * as HttpApi from "../../src/cluster/http/HttpApi.ts"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import type { KubeObject, Resource } from "../../src/kube/Resource.ts"
import * as Resources from "../../src/kube/Resources.ts"
import type { DevOptions } from "../../src/operator/Cli.ts"
import * as Controllers from "../../src/operator/Controllers.ts"
import * as Manifests from "../../src/operator/Manifests.ts"
import * as Options from "../../src/operator/Options.ts"
import { InvalidInput, loadCatalogue } from "../../src/operator/Schedule.ts"
import * as Manager from "../../src/runtime/Manager.ts"
import * as MemoryKube from "../kube/memory/MemoryKubeClient.ts"
import * as Certificate from "./Certificate.ts"
import * as Operator from "./Operator.ts"

/** Creates an object, or merges it into the one of that name (as `kubectl apply` would, roughly). */
const apply = (resource: Resource<KubeObject>, object: KubeObject) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const namespace = resource.namespaced ? (object.metadata.namespace ?? "default") : undefined
    const where = namespace === undefined ? {} : { namespace }
    if (namespace !== undefined) {
      yield* kube
        .create(Resources.Namespaces, { metadata: { name: namespace } } as never)
        .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
    }
    yield* kube.create(resource, object as never, where).pipe(
      Effect.catchTag("AlreadyExists", () => {
        const { metadata: _metadata, status: _status, ...body } = object as KubeObject & { status?: unknown }
        return kube.patch(resource, object.metadata.name ?? "", { type: "merge", patch: body }, where)
      })
    )
  })

/** Runs `dev` until interrupted. */
export const run = (options: DevOptions) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const manifests = yield* Manifests.load(options.files).pipe(
      Effect.mapError((error) => new InvalidInput({ message: error.message }))
    )
    const operator = options.operator
    const instanceTypes =
      operator.instanceTypesFilePath === undefined
        ? Catalog.kwok()
        : yield* loadCatalogue(operator.instanceTypesFilePath)

    const program = Effect.gen(function* () {
      // 256 random bits from the operating system: a secret, not a simulation input, so not Effect's Random.
      const token = options.insecure ? undefined : randomBytes(32).toString("base64url")
      const tls = options.insecure ? undefined : Certificate.selfSigned(yield* Clock.currentTimeMillis)
      const api = yield* HttpApi.serve({ port: options.port, faultInjection: options.faultInjection, token, tls })
      const kubeconfig = options.writeKubeconfig ?? path.join(tmpdir(), `karpenter-effect-dev-${api.port}.kubeconfig`)
      // Created afresh, for its owner only: an existing file (in a shared temporary directory, perhaps another
      // user's, or a link to one) keeps its owner and mode when written over.
      yield* fs.remove(kubeconfig, { force: true })
      const config = HttpApi.kubeconfigYaml(api.url, { token, certificateAuthority: tls?.cert })
      yield* fs.writeFileString(kubeconfig, config, { flag: "wx", mode: 0o600 })
      const [operations] = yield* Operator.serveOperations([
        { host: "127.0.0.1", port: options.metricsPort, endpoints: ["metrics", "health"] }
      ])
      for (const entry of Manifests.objects(manifests)) {
        yield* apply(entry.resource, entry.object).pipe(
          Effect.mapError(
            (error) =>
              new InvalidInput({
                message: `${entry.source.file}: document ${entry.source.document}: ${error.message}`
              })
          )
        )
      }
      yield* Console.log(
        [
          `API server: ${api.url}`,
          `Operations: ${operations?.url ?? ""} (/metrics /healthz /readyz)`,
          `Kubeconfig: ${kubeconfig}`,
          `Authentication: ${token === undefined ? "off (--insecure: plain HTTP, no token)" : "TLS and a bearer token, in the kubeconfig"}`,
          `Controllers: ${options.controllers ? "running" : "off (--no-controllers)"}`,
          "",
          "Point kubectl at the cluster with:",
          `  export KUBECONFIG=${kubeconfig}`,
          "",
          "Ready. Press Ctrl-C to stop."
        ].join("\n")
      )
      return yield* Effect.never
    })

    const manager = options.controllers ? Controllers.manager(Options.controllerOptions(operator)) : Manager.layer({})
    const cluster = Layer.mergeAll(manager, ControlPlane.layer).pipe(
      Layer.provideMerge(
        Operator.services({ instanceTypes, reservedCapacity: operator.featureGates.ReservedCapacity })
      ),
      Layer.provideMerge(MemoryKube.layer())
    )
    yield* program.pipe(Effect.provide(cluster))
  }).pipe(
    Effect.scoped,
    Effect.catchTag("HttpApiError", (error) => Effect.fail(new InvalidInput({ message: error.message }))),
    Effect.catchTag("PlatformError", (error) => Effect.fail(new InvalidInput({ message: error.message }))),
    Effect.provide(Operator.logging(options.operator.logLevel, "stderr"))
  )
