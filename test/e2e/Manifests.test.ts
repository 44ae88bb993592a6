/**
 * The installation as a user renders it: `kubectl kustomize manifests/` written to a file and applied with kubectl to
 * a `dev` cluster running as a separate process.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { root } from "../fixtures.ts"
import { kubectlFor, kubectlMissing, ok, startDev, temporaryDirectory } from "./support.ts"

if (kubectlMissing !== undefined) console.log(`skipping the manifests end-to-end test: ${kubectlMissing}`)

/** What the rendered installation holds, as `kubectl apply` names each object. */
const objects = [
  "namespace/karpenter",
  "customresourcedefinition.apiextensions.k8s.io/nodepools.karpenter.sh",
  "customresourcedefinition.apiextensions.k8s.io/nodeclaims.karpenter.sh",
  "customresourcedefinition.apiextensions.k8s.io/kwoknodeclasses.karpenter.kwok.sh",
  "serviceaccount/karpenter",
  "role.rbac.authorization.k8s.io/karpenter",
  "role.rbac.authorization.k8s.io/karpenter-kwok",
  "clusterrole.rbac.authorization.k8s.io/karpenter",
  "clusterrole.rbac.authorization.k8s.io/karpenter-kwok",
  "rolebinding.rbac.authorization.k8s.io/karpenter",
  "rolebinding.rbac.authorization.k8s.io/karpenter-kwok",
  "clusterrolebinding.rbac.authorization.k8s.io/karpenter",
  "clusterrolebinding.rbac.authorization.k8s.io/karpenter-kwok",
  "service/karpenter",
  "deployment.apps/karpenter",
  "poddisruptionbudget.policy/karpenter"
]

describe.skipIf(kubectlMissing !== undefined)("the rendered manifests", () => {
  it.live(
    "kubectl kustomize manifests/ renders an installation that kubectl applies to the dev cluster",
    () =>
      Effect.gen(function* () {
        const directory = yield* temporaryDirectory
        const dev = yield* startDev(join(directory, "kubeconfig"), ["--no-controllers"])
        const kubectl = kubectlFor(dev.kubeconfig, directory)

        const rendered = ok(yield* kubectl("kustomize", join(root, "manifests")), "kustomize manifests/")
        const file = join(directory, "karpenter.yaml")
        writeFileSync(file, rendered)

        const applied = ok(yield* kubectl("apply", "-f", file), "apply -f the rendered manifests")
        for (const object of objects) {
          assert.match(applied, new RegExp(`^${object.replaceAll(".", "\\.")} (created|configured|unchanged)$`, "m"))
        }
        // The namespaced objects were created, not found in place: dev starts with the CRDs only.
        for (const object of objects.slice(4)) assert.include(applied, `${object} created`)

        const deployment = ok(yield* kubectl("get", "deployment", "-n", "karpenter", "karpenter"), "get deployment")
        assert.deepStrictEqual(deployment.split("\n")[0]!.trim().split(/\s+/), [
          "NAME",
          "READY",
          "UP-TO-DATE",
          "AVAILABLE",
          "AGE"
        ])
        assert.match(deployment.split("\n")[1]!, /^karpenter\s+\d+\/2\s/)
        const replicas = ok(
          yield* kubectl("get", "deployment", "-n", "karpenter", "karpenter", "-o", "jsonpath={.spec.replicas}"),
          "get deployment replicas"
        )
        assert.strictEqual(replicas, "2")
        const listed = ok(
          yield* kubectl(
            "get",
            "serviceaccount,service,role,rolebinding,poddisruptionbudget",
            "-n",
            "karpenter",
            "-o",
            "name"
          ),
          "get the namespaced objects"
        )
        assert.deepStrictEqual(listed.trim().split("\n"), [
          "serviceaccount/karpenter",
          "service/karpenter",
          "role.rbac.authorization.k8s.io/karpenter",
          "role.rbac.authorization.k8s.io/karpenter-kwok",
          "rolebinding.rbac.authorization.k8s.io/karpenter",
          "rolebinding.rbac.authorization.k8s.io/karpenter-kwok",
          "poddisruptionbudget.policy/karpenter"
        ])
        ok(yield* kubectl("get", "clusterrole", "karpenter"), "get clusterrole")
        ok(yield* kubectl("get", "clusterrolebinding", "karpenter"), "get clusterrolebinding")

        // Applying the same file again creates nothing twice.
        const again = ok(yield* kubectl("apply", "-f", file), "apply -f the rendered manifests again")
        assert.notMatch(again, / created$/m)
      }).pipe(Effect.scoped),
    120_000
  )
})
