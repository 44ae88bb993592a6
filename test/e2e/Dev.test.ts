/**
 * `karpenter-effect dev` as a separate process, driven by the machine's kubectl: the API over TLS with a bearer token
 * (kubectl has both from the emitted kubeconfig, a request without the token gets 401), CRDs and a NodePool applied,
 * nodes launched for a Deployment, upstream's `get nodeclaims -o wide` columns, kube-apiserver's `get events` and
 * `get rs` columns, `auth can-i`, `/metrics` and `/readyz`, a drain through the eviction API, and consolidation once
 * the Deployment is deleted.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import * as Https from "node:https"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { kwokNodePoolYaml, root, webDeploymentYaml } from "../fixtures.ts"
import { httpGet, items, kubectlFor, kubectlMissing, ok, poll, startDev, temporaryDirectory } from "./support.ts"

if (kubectlMissing !== undefined) console.log(`skipping the dev end-to-end test: ${kubectlMissing}`)

const manifests = `${kwokNodePoolYaml({ registrationDelay: "1s", consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfter: "0s", budgetNodes: "100%", cpuLimit: "100" })}${webDeploymentYaml({ terminationGracePeriodSeconds: 0 })}`

/** Upstream's `kubectl get nodeclaims -o wide` columns (the CRD's additionalPrinterColumns). */
const nodeClaimColumns = [
  "NAME",
  "TYPE",
  "CAPACITY",
  "ZONE",
  "NODE",
  "READY",
  "AGE",
  "IMAGEID",
  "ID",
  "NODEPOOL",
  "NODECLASS",
  "DRIFTED"
]

/** Metrics upstream Karpenter exports that a provisioning run must have produced. */
const provisioningMetrics = [
  "karpenter_build_info",
  "karpenter_nodeclaims_created_total",
  "karpenter_nodes_created_total",
  "karpenter_nodes_allocatable",
  "karpenter_nodes_total_pod_requests",
  "karpenter_pods_state",
  "karpenter_pods_startup_duration_seconds",
  "karpenter_scheduler_scheduling_duration_seconds",
  "karpenter_cluster_state_node_count",
  "karpenter_cluster_state_synced",
  "karpenter_nodepools_usage",
  "karpenter_nodepools_limit"
]

/** Metrics upstream Karpenter exports that consolidation must have produced. */
const disruptionMetrics = [
  "karpenter_nodeclaims_disrupted_total",
  "karpenter_nodeclaims_terminated_total",
  "karpenter_nodes_terminated_total",
  "karpenter_voluntary_disruption_decisions_total"
]

/** A GET on `dev`'s API (HTTPS, trusting `ca`): the status and the parsed body. */
const apiGet = (url: string, ca: string, token?: string) =>
  Effect.callback<{ readonly status: number; readonly body: any }>((resume) => {
    const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` }
    Https.get(url, { ca, headers }, (response) => {
      let text = ""
      response.on("data", (chunk) => {
        text += String(chunk)
      })
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: JSON.parse(text) })))
    }).on("error", (error) => resume(Effect.die(error)))
  })

/** `name phase nodeName` of every pod of the Deployment. */
const podsJsonPath = `jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName}{"\\n"}{end}`

describe.skipIf(kubectlMissing !== undefined)("dev driven by kubectl", () => {
  it.live(
    "provisions for a Deployment, drains through the eviction API, serves metrics and consolidates after deletion",
    () =>
      Effect.gen(function* () {
        const directory = yield* temporaryDirectory
        const dev = yield* startDev(join(directory, "kubeconfig"))
        const kubectl = kubectlFor(dev.kubeconfig, directory)
        const manifestFile = join(directory, "manifests.yaml")
        writeFileSync(manifestFile, manifests)

        assert.match(ok(yield* kubectl("apply", "-f", join(root, "manifests/base/crds")), "apply crds"), /nodeclaims/)
        const applied = ok(yield* kubectl("apply", "-f", manifestFile), "apply manifests")
        assert.match(applied, /nodepool\.karpenter\.sh\/default created/)
        assert.match(applied, /deployment\.apps\/web created/)

        // kubectl got in with the kubeconfig's certificate and token; without the token the API answers 401, but
        // for the public /version.
        assert.match(dev.apiServer, /^https:\/\//)
        assert.strictEqual(statSync(dev.kubeconfig).mode & 0o777, 0o600)
        const kubeconfig = readFileSync(dev.kubeconfig, "utf8")
        const token = /^\s+token: "([^"]+)"$/m.exec(kubeconfig)?.[1]
        const authority = /^\s+certificate-authority-data: (\S+)$/m.exec(kubeconfig)?.[1]
        assert.isDefined(token, kubeconfig)
        assert.isDefined(authority, kubeconfig)
        const ca = Buffer.from(authority!, "base64").toString("utf8")
        const podList = `${dev.apiServer}/api/v1/namespaces/default/pods`
        const anonymous = yield* apiGet(podList, ca)
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.body.reason, "Unauthorized")
        const authorized = yield* apiGet(podList, ca, token)
        assert.strictEqual(authorized.status, 200)
        assert.strictEqual(authorized.body.kind, "PodList")
        assert.strictEqual((yield* apiGet(`${dev.apiServer}/version`, ca)).status, 200)

        const runningPods = Effect.map(kubectl("get", "pods", "-l", "app=web", "-o", podsJsonPath), (run) =>
          run.stdout
            .split("\n")
            .filter((line) => line !== "")
            .map((line) => {
              const [name = "", phase = "", node = ""] = line.split(" ")
              return { name, phase, node }
            })
        )
        const allRunning = (where: (node: string) => boolean) =>
          poll(
            Effect.map(runningPods, (pods) =>
              pods.length === 3 && pods.every((pod) => pod.phase === "Running" && where(pod.node)) ? pods : undefined
            ),
            { timeout: "60 seconds", what: () => dev.process.stderr().slice(-3000) }
          )
        const pods = yield* allRunning((node) => node !== "")

        const nodes = ok(yield* kubectl("get", "nodes"), "get nodes")
        const first = pods[0]!.node
        assert.match(nodes, new RegExp(`^${first}\\s+Ready\\s`, "m"))
        const wide = ok(yield* kubectl("get", "nodeclaims", "-o", "wide"), "get nodeclaims -o wide").split("\n")
        assert.deepStrictEqual(wide[0]!.trim().split(/\s+/), nodeClaimColumns)
        const row = wide.find((line) => line.includes(` ${first} `))
        assert.isDefined(row, wide.join("\n"))
        // TYPE CAPACITY ZONE NODE READY ... ID NODEPOOL NODECLASS, from a NodeClaim launched by the KWOK provider.
        assert.match(row!, new RegExp(`^\\S+\\s+\\S+\\s+(spot|on-demand)\\s+\\S+\\s+${first}\\s+True\\s+`))
        assert.match(row!, /\skwok:\/\/\S+\s+default\s+default\s*$/)

        // kubectl as people use it: kube-apiserver's columns for Events and ReplicaSets, `auth can-i` answered, and
        // the built-in namespaces as old as the cluster.
        const header = (output: string) =>
          output
            .split("\n")[0]!
            .trim()
            .split(/\s{2,}/)
        const events = ok(yield* kubectl("get", "events"), "get events")
        assert.deepStrictEqual(header(events), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
        assert.match(events, /^\d+s\s+Normal\s+Nominated\s+pod\/web-\S+\s+Pod should schedule on: nodeclaim\/\S+/m)
        const replicaSets = ok(yield* kubectl("get", "rs"), "get rs")
        assert.deepStrictEqual(header(replicaSets), ["NAME", "DESIRED", "CURRENT", "READY", "AGE"])
        assert.match(replicaSets, /^web-\S+\s+3\s+3\s+3\s+\d+s$/m)
        const wideReplicaSets = ok(yield* kubectl("get", "rs", "-o", "wide"), "get rs -o wide")
        assert.deepStrictEqual(header(wideReplicaSets), [
          "NAME",
          "DESIRED",
          "CURRENT",
          "READY",
          "AGE",
          "CONTAINERS",
          "IMAGES",
          "SELECTOR"
        ])
        assert.match(wideReplicaSets, /^web-(\S+)\s+3\s+3\s+3\s+\d+s\s+web\s+nginx\s+app=web,pod-template-hash=\1$/m)
        assert.strictEqual(ok(yield* kubectl("auth", "can-i", "create", "nodeclaims"), "auth can-i").trim(), "yes")
        assert.match(
          ok(yield* kubectl("auth", "can-i", "--list"), "auth can-i --list"),
          /^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$/m
        )
        assert.match(
          ok(yield* kubectl("get", "ns", "default"), "get ns default"),
          /^default\s+Active\s+(\d+s|\d+m\d*s?)$/m
        )

        // The operations endpoints, once the run is reflected in the metrics.
        let scraped = ""
        const missing = () => provisioningMetrics.filter((name) => !scraped.includes(name))
        const metrics = yield* poll(
          Effect.map(httpGet(`${dev.operations}/metrics`), (response) => {
            scraped = response.body
            return response.status === 200 && missing().length === 0 ? response.body : undefined
          }),
          { timeout: "30 seconds", what: () => `/metrics lacks ${missing().join(", ")}` }
        )
        assert.match(metrics, /^karpenter_nodeclaims_created_total\{[^}]*nodepool="default"[^}]*\} [1-9]/m)
        assert.match(metrics, /^karpenter_nodes_created_total\{[^}]*\} [1-9]/m)
        assert.strictEqual((yield* httpGet(`${dev.operations}/readyz`)).status, 200)
        assert.strictEqual((yield* httpGet(`${dev.operations}/healthz`)).status, 200)

        // Drain: cordon, then every pod evicted through the eviction API; the ReplicaSet replaces them, and Karpenter
        // launches a node for the replacements.
        const drained = ok(
          yield* kubectl("drain", first, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=60s"),
          "drain"
        )
        const evicted = new Set(pods.filter((pod) => pod.node === first).map((pod) => pod.name))
        for (const pod of evicted) assert.match(drained, new RegExp(`evicting pod default/${pod}`))
        assert.match(drained, new RegExp(`node/${first} drained`))
        assert.match(ok(yield* kubectl("get", "node", first), "get node"), /Ready,SchedulingDisabled/)
        // The embedded node lifecycle taints the cordoned node, and that taint is what Karpenter's simulation sees:
        // without it the evicted pods looked as if they fit back where they were, and no node was launched.
        yield* poll(
          Effect.map(kubectl("get", "node", first, "-o", "jsonpath={.spec.taints[*].key}"), (result) =>
            result.stdout.includes("node.kubernetes.io/unschedulable") ? true : undefined
          ),
          { timeout: "10 seconds", interval: "200 millis", what: () => "the cordoned node was not tainted" }
        )
        const replaced = yield* allRunning((node) => node !== "" && node !== first)
        for (const pod of replaced) assert.isFalse(evicted.has(pod.name), `${pod.name} still runs after its eviction`)

        // Deleting the Deployment empties the nodes; emptiness consolidation removes them.
        ok(yield* kubectl("delete", "deployment", "web"), "delete deployment")
        yield* poll(
          Effect.gen(function* () {
            const claims = yield* items(kubectl, "nodeclaims")
            const left = yield* items(kubectl, "nodes")
            return claims?.length === 0 && left?.length === 0 ? true : undefined
          }),
          {
            timeout: "120 seconds",
            interval: "1 second",
            what: () => `nodes were not consolidated:\n${dev.process.stderr().slice(-3000)}`
          }
        )
        const disrupted = (yield* httpGet(`${dev.operations}/metrics`)).body
        for (const name of disruptionMetrics) assert.match(disrupted, new RegExp(`^${name}\\{[^}]*\\} [1-9]`, "m"))
      }).pipe(Effect.scoped),
    240_000
  )
})
