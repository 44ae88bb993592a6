/**
 * Leader election across processes: three `controller` replicas against one `dev --no-controllers` cluster elect one
 * leader on the Lease; a leader killed with SIGKILL (no release) is replaced once its record expires, without
 * duplicate NodeClaims; a leader stopped with SIGTERM releases the Lease and exits with 130, and the last replica
 * takes over.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { kwokNodePoolYaml, root } from "../fixtures.ts"
import {
  items,
  kubectlFor,
  kubectlMissing,
  ok,
  output,
  type Process,
  poll,
  start,
  startDev,
  stop,
  temporaryDirectory,
  waitForLog
} from "./support.ts"

if (kubectlMissing !== undefined) console.log(`skipping the leader election end-to-end test: ${kubectlMissing}`)

const lease = "kube-system/karpenter-leader-election"
const acquired = `successfully acquired lease ${lease}`

/** Every pod of `spread` needs a node of its own (hostname anti-affinity): #NodeClaims must equal #pods. */
const manifests = `${kwokNodePoolYaml({ registrationDelay: "3s", consolidationPolicy: "WhenEmpty", consolidateAfter: "10m" })}apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: { app: spread }
  template:
    metadata:
      labels: { app: spread }
    spec:
      terminationGracePeriodSeconds: 0
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels: { app: spread }
      containers:
        - name: app
          image: pause
          resources:
            requests: { cpu: 100m, memory: 64Mi }
`

const leads = (replica: Process) => replica.logs().some((log) => log.message === acquired)

describe.skipIf(kubectlMissing !== undefined)("leader election between controller processes", () => {
  it.live(
    "one leader; SIGKILL hands over after the lease expires without duplicate NodeClaims; SIGTERM releases",
    () =>
      Effect.gen(function* () {
        const directory = yield* temporaryDirectory
        const dev = yield* startDev(join(directory, "kubeconfig"), ["--no-controllers"])
        const kubectl = kubectlFor(dev.kubeconfig, directory)
        ok(yield* kubectl("apply", "-f", join(root, "manifests/base/crds")), "apply crds")
        const controller = (name: string) =>
          start(name, ["controller", "--kubeconfig", dev.kubeconfig, "--metrics-port", "0", "--health-probe-port", "0"])
        const holder = () =>
          Effect.map(
            kubectl(
              "get",
              "lease",
              "-n",
              "kube-system",
              "karpenter-leader-election",
              "-o",
              "jsonpath={.spec.holderIdentity}"
            ),
            (run) => run.stdout
          )
        const identity = (replica: Process) =>
          Effect.map(waitForLog(replica, "attempting to acquire leader lease"), (log) => String(log.identity))

        // Three replicas start together; exactly one leads, and the Lease names it.
        const replicas = [
          yield* controller("controller-a"),
          yield* controller("controller-b"),
          yield* controller("controller-c")
        ]
        const identities = new Map<Process, string>()
        for (const replica of replicas) identities.set(replica, yield* identity(replica))
        assert.strictEqual(new Set(identities.values()).size, 3)
        /** The one replica of `candidates` that acquired the Lease; fails if several did. */
        const elected = (candidates: ReadonlyArray<Process>, timeout: Duration.Input) =>
          poll(
            Effect.sync(() => {
              const leading = candidates.filter(leads)
              assert.isAtMost(leading.length, 1, `several replicas acquired the lease: ${leading.map((r) => r.name)}`)
              return leading[0]
            }),
            { timeout, what: () => candidates.map(output).join("\n") }
          )
        const leader = yield* elected(replicas, "30 seconds")
        yield* waitForLog(leader, "leading: controllers started")
        assert.strictEqual(yield* holder(), identities.get(leader))

        // The leader provisions; it is killed (no release) as soon as a NodeClaim is launched, before its Node registers
        // (3 s later): the instance must outlive the leader, and the next leader must finish it, not replace it.
        const manifestFile = join(directory, "manifests.yaml")
        writeFileSync(manifestFile, manifests)
        ok(yield* kubectl("apply", "-f", manifestFile), "apply manifests")
        const launched = yield* poll(
          Effect.map(items(kubectl, "nodeclaims"), (claims) => {
            const names = (claims ?? []).map((claim) => claim.metadata.name as string)
            return (claims ?? []).some((claim) => claim.status?.providerID !== undefined) ? names : undefined
          }),
          { timeout: "60 seconds", interval: "100 millis", what: () => output(leader) }
        )
        const followers = replicas.filter((replica) => replica !== leader)
        assert.deepStrictEqual(followers.filter(leads), [], "a follower acquired the lease while the leader was alive")
        assert.strictEqual(yield* stop(leader, "SIGKILL"), 137)
        // A pod that turns up while nobody leads is the next leader's to provision.
        ok(yield* kubectl("scale", "deployment", "spread", "--replicas=4"), "scale")

        // The Lease record stops changing; once its 15 s duration has passed one follower takes it (2 s retries).
        const next = yield* elected(followers, "40 seconds")
        yield* waitForLog(next, "leading: controllers started")
        assert.strictEqual(yield* holder(), identities.get(next))

        // Every pod bound to a node of its own, one NodeClaim per pod, each with its Node.
        const settled = Effect.gen(function* () {
          const pods = (yield* items(kubectl, "pods", "-l", "app=spread")) ?? []
          const claims = (yield* items(kubectl, "nodeclaims")) ?? []
          const nodes = new Set(((yield* items(kubectl, "nodes")) ?? []).map((node) => node.metadata.name as string))
          const bound = pods.filter((pod) => pod.status?.phase === "Running" && nodes.has(pod.spec?.nodeName))
          const registered = claims.filter((claim) => nodes.has(claim.status?.nodeName))
          const summary = `pods ${pods.map((pod) => `${pod.metadata.name}@${pod.spec?.nodeName ?? ""}`).join(" ")}; claims ${claims
            .map((claim) => `${claim.metadata.name}@${claim.status?.nodeName ?? ""}`)
            .join(" ")}; nodes ${[...nodes].join(" ")}`
          const done =
            launched.every((name) => claims.some((claim) => claim.metadata.name === name)) &&
            pods.length === 4 &&
            bound.length === 4 &&
            new Set(bound.map((pod) => pod.spec.nodeName)).size === 4 &&
            claims.length === 4 &&
            registered.length === 4 &&
            nodes.size === 4
          return { done, summary }
        })
        let last = ""
        yield* poll(
          Effect.map(settled, ({ done, summary }) => {
            last = summary
            return done ? true : undefined
          }),
          { timeout: "60 seconds", interval: "500 millis", what: () => `${last}\n${output(next)}` }
        )

        // SIGTERM: the leader releases the Lease and exits with 130, and the last replica takes over (the released
        // record has an empty holder, so it need not wait for the lease to expire).
        const remaining = followers.find((replica) => replica !== next)!
        assert.strictEqual(yield* stop(next, "SIGTERM"), 130)
        assert.isTrue(
          next.logs().some((log) => log.message === `released lease ${lease}`),
          `no release logged:\n${output(next)}`
        )
        yield* waitForLog(remaining, acquired, "40 seconds")
        assert.strictEqual(yield* holder(), identities.get(remaining))
        const after = yield* settled
        assert.isTrue(after.done, after.summary)
      }).pipe(Effect.scoped),
    240_000
  )
})
