import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { withLiveCluster } from "./LiveCluster.ts"

/** A NodePool, a Deployment whose template and pod carry secrets in env, a ConfigMap, and one pending pod. */
const cluster = `
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default, annotations: {note: "configmap-annotation"}}
data: {password: configmap-secret-value}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"env":[{"name":"TOKEN","value":"last-applied-secret"}]}'
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: app
          env: [{name: TOKEN, value: template-secret-value}]
          envFrom: [{secretRef: {name: credentials}}]
          resources: {requests: {cpu: "1", memory: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec:
  containers:
    - name: app
      image: app
      env:
        - {name: TOKEN, value: pod-secret-value}
        - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: credentials, key: token}}}
      envFrom: [{configMapRef: {name: settings}}]
      resources: {requests: {cpu: "1", memory: 1Gi}}
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable, message: "0/0 nodes are available"}]
`

describe("snapshot", () => {
  it.live(
    "reads the cluster with LIST only, leaves secrets out, and schedule -f replays it",
    () =>
      withLiveCluster(cluster, ({ run, writes }) =>
        Effect.gen(function* () {
          const file = join(mkdtempSync(join(tmpdir(), "snapshot-")), "cluster.yaml")
          yield* run(["snapshot", "--output-file", file])
          const text = readFileSync(file, "utf8")
          assert.strictEqual(writes(), 0)
          for (const secret of [
            "configmap-secret-value",
            "configmap-annotation",
            "last-applied-secret",
            "template-secret-value",
            "pod-secret-value",
            "secretKeyRef",
            "credentials",
            "managedFields"
          ]) {
            assert.notInclude(text, secret)
          }
          assert.include(text, "kind: Deployment")
          const planned = JSON.parse(yield* run(["schedule", "-f", file, "-o", "json"]))
          assert.deepStrictEqual(
            planned.nodeClaims.map((claim: { nodePool: string; pods: Array<string> }) => [claim.nodePool, claim.pods]),
            [["default", ["default/web-1"]]]
          )
          assert.deepStrictEqual(planned.unschedulable, [])
        })
      ),
    30_000
  )
})
