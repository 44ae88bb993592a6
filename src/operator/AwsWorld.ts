/**
 * The fake AWS world that `schedule` and `simulate` run an input on when it has an EC2NodeClass: the AWS provider
 * against a stateful fake of EC2 (a default VPC of three zones, the EC2 instance types and prices of the shipped
 * dataset). The composition root hands it in (src/ never imports layers/), loaded only for such inputs.
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as KWOKNodeClass from "../api/KWOKNodeClass.ts"
import type { NodePool } from "../api/NodePool.ts"
import type * as InstanceType from "../cloudprovider/InstanceType.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import type { KubeObject, Resource } from "../kube/Resource.ts"
import * as Resources from "../kube/Resources.ts"
import type * as Controllers from "./Controllers.ts"
import type * as Manifests from "./Manifests.ts"

/** What the AWS provider offers each NodePool of an input, once the fake world resolved the EC2NodeClasses. */
export interface Offered {
  /** NodePool name → its instance types (offerings priced, in the NodeClass's subnet zones). */
  readonly instanceTypes: ReadonlyMap<string, ReadonlyArray<InstanceType.InstanceType>>
  /** NodePool name → why its EC2NodeClass is not Ready (missing, or a condition's reason and message). */
  readonly notReady: ReadonlyMap<string, string>
  /** The provider's well-known labels. */
  readonly wellKnownLabels: ReadonlySet<string>
  /** Every instance type of the region as for a default EC2NodeClass (existing nodes' types), built on first use. */
  readonly catalogue: () => ReadonlyArray<InstanceType.InstanceType>
}

/** The fake AWS world. */
export interface AwsWorld {
  /** `schedule`: resolves the input's EC2NodeClasses and lists the instance types of its NodePools. */
  readonly offered: (
    objects: ReadonlyArray<{ readonly resource: Resource<KubeObject>; readonly object: KubeObject }>,
    nodePools: ReadonlyArray<NodePool>
  ) => Effect.Effect<Offered>
  /** `simulate`: the embedded cluster with the AWS provider on the fake world, on the caller's clock. */
  readonly simulation: (options: Controllers.ControllerOptions) => Layer.Layer<KubeClient>
  /** The region's instance types with their offerings' prices (the simulation's summary prices nodes at them). */
  readonly catalogue: () => ReadonlyArray<InstanceType.InstanceType>
}

/** Which provider an input runs on. */
export type Provider = "kwok" | "aws"

/** Why an input that mixes EC2NodeClasses and KWOKNodeClasses is refused. */
export const mixedProviders =
  "the input mixes EC2NodeClass and KWOKNodeClass: one run uses one cloud provider (AWS or KWOK)"

/**
 * The provider of an input: AWS when it has an EC2NodeClass, else KWOK (whose catalogue then serves every NodePool,
 * whatever its nodeClassRef, as before the AWS world existed); "mixed" when it also has a KWOKNodeClass or a NodePool
 * on one (refused: one run has one cloud provider, as a Karpenter installation does).
 */
export const providerOf = (manifests: Manifests.Manifests): Provider | "mixed" => {
  const refs = manifests.nodePools.map((nodePool) => nodePool.spec.template.spec.nodeClassRef)
  if (!manifests.others.some((entry) => entry.resource === Resources.EC2NodeClasses)) return "kwok"
  const kwok =
    manifests.nodeClasses.length > 0 ||
    refs.some((ref) => ref.group === KWOKNodeClass.group && ref.kind === KWOKNodeClass.kind)
  return kwok ? "mixed" : "aws"
}
