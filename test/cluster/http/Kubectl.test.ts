/**
 * The real kubectl against the façade over an in-memory cluster: applying the CRDs and manifests (client-side and
 * server-side), printer columns, cordon, drain through the eviction API, scale, label, delete.
 */
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpApi from "../../../src/cluster/http/HttpApi.ts"
import * as KubeClient from "../../../src/kube/KubeClient.ts"
import * as Resources from "../../../src/kube/Resources.ts"
import { kwokNodePoolYaml, root, webDeploymentYaml } from "../../fixtures.ts"
import { withServer } from "./support.ts"

const kubectlMissing = await new Promise<string | undefined>((resolve) =>
  execFile("kubectl", ["version", "--client"], (error) =>
    resolve(error === null ? undefined : `kubectl is not on PATH (${error.message})`)
  )
)
if (kubectlMissing !== undefined) console.log(`skipping the kubectl tests: ${kubectlMissing}`)

const manifests = `${kwokNodePoolYaml({ registrationDelay: "30s", consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfter: "1m", cpuLimit: "200" })}${webDeploymentYaml()}`

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A kubeconfig for the server in a temporary directory (removed with the scope), and kubectl using it. */
const session = (served: HttpApi.Served) =>
  Effect.gen(function* () {
    const directory = mkdtempSync(join(tmpdir(), "kubectl-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
    const kubeconfig = join(directory, "kubeconfig")
    writeFileSync(kubeconfig, HttpApi.kubeconfigYaml(served.url))
    const kubectl = (...args: ReadonlyArray<string>) =>
      Effect.promise(
        () =>
          new Promise<Run>((resolve) =>
            execFile(
              "kubectl",
              ["--cache-dir", join(directory, "cache"), ...args],
              { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 60_000 },
              (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
            )
          )
      )
    return { directory, kubeconfig, kubectl }
  })

describe.skipIf(kubectlMissing !== undefined)("kubectl against the HTTP façade", () => {
  it.live(
    "apply, get -o wide, cordon, drain, scale, label, server-side apply and delete work",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const { directory, kubeconfig, kubectl } = yield* session(served)
          const manifestFile = join(directory, "manifests.yaml")
          writeFileSync(manifestFile, manifests)
          const ok = (run: Run, what: string) =>
            assert.strictEqual(run.code, 0, `${what} failed:\n${run.stdout}\n${run.stderr}`)

          const kube = yield* KubeClient.KubeClient
          const crds = yield* kubectl("apply", "-f", join(root, "manifests/base/crds"))
          ok(crds, "apply -f manifests/base/crds")
          assert.match(crds.stdout, /nodeclaims\.karpenter\.sh/)
          ok(yield* kubectl("apply", "-f", join(root, "manifests/base/crds")), "apply -f manifests/base/crds again")

          const applied = yield* kubectl("apply", "-f", manifestFile)
          ok(applied, "apply -f manifests")
          assert.match(applied.stdout, /nodepool\.karpenter\.sh\/default created/)
          assert.match(applied.stdout, /deployment\.apps\/web created/)
          const unchanged = yield* kubectl("apply", "-f", manifestFile)
          ok(unchanged, "apply -f manifests again")
          assert.match(unchanged.stdout, /deployment\.apps\/web unchanged/)
          writeFileSync(
            manifestFile,
            manifests.replace("replicas: 3", "replicas: 4").replace("image: nginx", "image: nginx:2")
          )
          const configured = yield* kubectl("apply", "-f", manifestFile)
          ok(configured, "apply -f changed manifests")
          assert.match(configured.stdout, /deployment\.apps\/web configured/)
          const web = yield* kube.get(Resources.Deployments, "web", { namespace: "default" })
          assert.strictEqual(web.spec.replicas, 4)
          assert.strictEqual(web.spec.template.spec.containers[0]?.image, "nginx:2")
          assert.isDefined(web.spec.template.spec.containers[0]?.resources?.requests?.cpu)

          const watching = yield* Effect.acquireRelease(
            Effect.sync(() =>
              spawn("kubectl", ["--cache-dir", join(directory, "cache"), "get", "nodepools", "-w"], {
                env: { ...process.env, KUBECONFIG: kubeconfig }
              })
            ),
            (child) => Effect.sync(() => child.kill())
          )
          let printed = ""
          const waiters = new Set<() => void>()
          watching.stdout.on("data", (chunk: Buffer) => {
            printed += chunk.toString("utf8")
            for (const waiter of waiters) waiter()
          })
          const printedMatches = (pattern: RegExp) =>
            Effect.callback<void>((resume) => {
              const check = () => {
                if (!pattern.test(printed)) return
                waiters.delete(check)
                resume(Effect.void)
              }
              waiters.add(check)
              check()
            })
          yield* printedMatches(/NAME\s+NODECLASS\s+NODES\s+READY\s+AGE\n.*default/)
          yield* kube.create(Resources.NodePools, {
            apiVersion: "karpenter.sh/v1",
            kind: "NodePool",
            metadata: { name: "watched" },
            spec: {
              template: {
                spec: {
                  nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
                  requirements: []
                }
              }
            }
          })
          yield* printedMatches(/\nwatched\s+default/)

          yield* kube.create(Resources.NodeClaims, {
            apiVersion: "karpenter.sh/v1",
            kind: "NodeClaim",
            metadata: {
              name: "default-abcde",
              labels: { "karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c-2x-amd64-linux" }
            },
            spec: {
              nodeClassRef: { group: "karpenter.kwok.sh", kind: "KWOKNodeClass", name: "default" },
              requirements: []
            }
          })
          const waiting = yield* Effect.forkChild(
            kubectl("wait", "--for=condition=Ready", "nodeclaim/default-abcde", "--timeout=30s")
          )
          yield* kube.patch(
            Resources.NodeClaims,
            "default-abcde",
            {
              type: "merge",
              patch: {
                status: {
                  conditions: [
                    {
                      type: "Ready",
                      status: "True",
                      reason: "Ready",
                      message: "",
                      lastTransitionTime: "2026-01-01T00:00:00Z"
                    }
                  ]
                }
              }
            },
            { subresource: "status" }
          )
          const waited = yield* Fiber.join(waiting)
          ok(waited, "wait --for=condition=Ready")
          assert.match(waited.stdout, /nodeclaim\.karpenter\.sh\/default-abcde condition met/)
          const wide = yield* kubectl("get", "nodeclaims", "-o", "wide")
          ok(wide, "get nodeclaims -o wide")
          assert.deepStrictEqual(wide.stdout.split("\n")[0]!.trim().split(/\s+/), [
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
          ])
          assert.match(wide.stdout.split("\n")[1]!, /^default-abcde\s+c-2x-amd64-linux\s+/)

          yield* kube.create(Resources.Nodes, {
            apiVersion: "v1",
            kind: "Node",
            metadata: { name: "node-a", labels: { "kubernetes.io/hostname": "node-a" } },
            spec: { providerID: "kwok://node-a" }
          })
          yield* kube.create(Resources.Pods, {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "lonely", namespace: "default" },
            spec: {
              nodeName: "node-a",
              terminationGracePeriodSeconds: 0,
              containers: [{ name: "app", image: "app:1" }]
            }
          })
          ok(yield* kubectl("cordon", "node-a"), "cordon")
          const nodes = yield* kubectl("get", "nodes")
          ok(nodes, "get nodes")
          assert.deepStrictEqual(nodes.stdout.split("\n")[0]!.trim().split(/\s+/), [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION"
          ])
          assert.match(nodes.stdout, /node-a\s+\S*SchedulingDisabled/)
          assert.strictEqual((yield* kube.get(Resources.Nodes, "node-a")).spec?.unschedulable, true)

          const drain = yield* kubectl(
            "drain",
            "node-a",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=20s"
          )
          ok(drain, "drain")
          assert.match(drain.stdout, /evicting pod default\/lonely|pod\/lonely evicted/)
          assert.strictEqual((yield* kube.list(Resources.Pods)).items.length, 0)

          ok(yield* kubectl("scale", "deployment", "web", "--replicas=5"), "scale")
          assert.strictEqual((yield* kube.get(Resources.Deployments, "web", { namespace: "default" })).spec.replicas, 5)
          ok(yield* kubectl("label", "nodepool", "default", "team=a"), "label")
          assert.strictEqual((yield* kube.get(Resources.NodePools, "default")).metadata.labels?.team, "a")
          ok(yield* kubectl("annotate", "node", "node-a", "note=x"), "annotate")
          const described = yield* kubectl("describe", "node", "node-a")
          ok(described, "describe node")
          assert.match(described.stdout, /Unschedulable:\s+true/)
          ok(yield* kubectl("describe", "nodeclaim", "default-abcde"), "describe nodeclaim")

          writeFileSync(manifestFile, manifests.replace("replicas: 3", "replicas: 9"))
          ok(yield* kubectl("apply", "--dry-run=server", "-f", manifestFile), "apply --dry-run=server")
          assert.strictEqual((yield* kube.get(Resources.Deployments, "web", { namespace: "default" })).spec.replicas, 5)
          const serverSide = yield* kubectl("apply", "--server-side", "-f", manifestFile)
          ok(serverSide, "apply --server-side")
          assert.match(serverSide.stdout, /deployment\.apps\/web serverside-applied/)
          assert.strictEqual((yield* kube.get(Resources.Deployments, "web", { namespace: "default" })).spec.replicas, 9)

          const pods = yield* kubectl("get", "pods", "-A", "-o", "wide")
          ok(pods, "get pods -A -o wide")
          ok(yield* kubectl("get", "crds"), "get crds")
          ok(yield* kubectl("api-resources"), "api-resources")

          ok(yield* kubectl("delete", "deployment", "web"), "delete deployment")
          const gone = yield* Effect.flip(kube.get(Resources.Deployments, "web", { namespace: "default" }))
          assert.strictEqual(gone._tag, "NotFound")
        })
      ),
    120_000
  )

  it.live(
    "apply -k manifests/ creates the whole installation (RBAC, ServiceAccount, Service included), and applies again",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const { kubectl } = yield* session(served)
          const first = yield* kubectl("apply", "-k", join(root, "manifests"))
          assert.strictEqual(first.code, 0, `${first.stdout}\n${first.stderr}`)
          assert.match(first.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/\S+ created/)
          assert.match(first.stdout, /serviceaccount\/\S+ created/)
          assert.match(first.stdout, /deployment\.apps\/\S+ created/)
          const second = yield* kubectl("apply", "-k", join(root, "manifests"))
          assert.strictEqual(second.code, 0, `${second.stdout}\n${second.stderr}`)
          // Fields outside the project's schemas (probes, securityContext) are pruned by the KubeClient, so kubectl
          // sees the Deployment and PDB as changed on every apply; nothing is created twice.
          assert.notMatch(second.stdout, / created$/m)
          assert.match(second.stdout, /serviceaccount\/karpenter unchanged/)
          const listed = yield* kubectl("get", "sa,svc,deploy,pdb,role,rolebinding", "-n", "karpenter")
          assert.strictEqual(listed.code, 0, listed.stderr)
        })
      ),
    120_000
  )

  it.live(
    "imperative generators send protobuf: create namespace, run, create deployment, configmap, service, pdb",
    () =>
      withServer((served) =>
        Effect.gen(function* () {
          const { kubectl } = yield* session(served)
          const kube = yield* KubeClient.KubeClient
          for (const args of [
            ["create", "namespace", "team"],
            ["run", "web", "--image=nginx", "-n", "team", "--labels=app=web"],
            ["create", "deployment", "inflate", "--image=pause:3.7", "--replicas=0"],
            ["create", "configmap", "settings", "--from-literal=a=b"],
            ["create", "service", "clusterip", "web", "--tcp=80:8080"],
            ["create", "pdb", "inflate", "--selector=app=inflate", "--min-available=1"]
          ]) {
            const run = yield* kubectl(...args)
            assert.strictEqual(run.code, 0, `kubectl ${args.join(" ")}: ${run.stdout}\n${run.stderr}`)
          }
          yield* kube.get(Resources.Namespaces, "team")
          const pod = yield* kube.get(Resources.Pods, "web", { namespace: "team" })
          assert.deepStrictEqual(pod.metadata.labels, { app: "web" })
          assert.strictEqual(pod.spec.containers[0]?.image, "nginx")
          const deployment = yield* kube.get(Resources.Deployments, "inflate", { namespace: "default" })
          assert.strictEqual(deployment.spec.replicas, 0)
          assert.deepStrictEqual(deployment.spec.selector.matchLabels, { app: "inflate" })
          const pdb = yield* kube.get(Resources.PodDisruptionBudgets, "inflate", { namespace: "default" })
          assert.strictEqual(pdb.spec.minAvailable, 1)
          const configMap = yield* kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.a}")
          assert.strictEqual(configMap.stdout, "b")
          const service = yield* kubectl("get", "service", "web", "-o", "jsonpath={.spec.ports[0].targetPort}")
          assert.strictEqual(service.stdout, "8080")
        })
      ),
    120_000
  )
})
