/** The instance profile Karpenter manages for an EC2NodeClass's `role` (upstream `pkg/providers/instanceprofile`). */
import type * as IamSdk from "@aws-sdk/client-iam"
import { Effect } from "effect"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Hash from "../../../../src/controllers/nodepool/hash/Hash.ts"
import { Iam } from "../sdk/Iam.ts"

/** upstream `EKSClusterNameTagKey`. */
export const EksClusterNameTag = "eks:eks-cluster-name"

/** The managed profile's name (upstream `InstanceProfileName`): `<cluster>_<hashstructure of region + node class>`. */
export const nameOf = (clusterName: string, region: string, nodeClassName: string): string =>
  `${clusterName}_${Hash.ofString(`${region}${nodeClassName}`).toString()}`

/** The managed profile's tags (upstream `InstanceProfileTags`): the node class's tags, then Karpenter's over them. */
export const tagsOf = (
  clusterName: string,
  region: string,
  nodeClass: EC2NodeClass.EC2NodeClass
): Readonly<Record<string, string>> => ({
  ...nodeClass.spec.tags,
  [`kubernetes.io/cluster/${clusterName}`]: "owned",
  [EksClusterNameTag]: clusterName,
  [EC2NodeClass.NodeClassLabel]: nodeClass.metadata.name ?? "",
  [Labels.Region]: region
})

/**
 * Makes sure the profile exists with `role` as its only role (upstream `DefaultProvider.Create`): created with the tags
 * when missing; a different role is removed first; a role's path is dropped (AddRoleToInstanceProfile takes names).
 */
export const ensure = Effect.fn("InstanceProfiles.ensure")(function* (
  name: string,
  role: string,
  tags: Readonly<Record<string, string>>
) {
  const iam = yield* Iam
  const profile: IamSdk.InstanceProfile | undefined = yield* iam.getInstanceProfile({ InstanceProfileName: name }).pipe(
    Effect.map((output) => output.InstanceProfile),
    Effect.catchTag("AwsNotFound", () =>
      Effect.map(
        iam.createInstanceProfile({
          InstanceProfileName: name,
          Tags: Object.keys(tags)
            .sort()
            .map((key) => ({ Key: key, Value: tags[key] }))
        }),
        (output) => output.InstanceProfile
      )
    )
  )
  const current = profile?.Roles?.[0]?.RoleName
  const roleName = role.split("/").at(-1) ?? role
  // Upstream compares the spec's role, path included, with the attached role's name.
  if (current === role) return
  if (current !== undefined) yield* iam.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: current })
  yield* iam.addRoleToInstanceProfile({ InstanceProfileName: name, RoleName: roleName })
})

/** Deletes the profile, removing its role first (upstream `DefaultProvider.Delete`); one already gone is fine. */
export const remove = Effect.fn("InstanceProfiles.remove")(function* (name: string) {
  const iam = yield* Iam
  const found = yield* iam.getInstanceProfile({ InstanceProfileName: name }).pipe(
    Effect.map((output) => output.InstanceProfile),
    Effect.catchTag("AwsNotFound", () => Effect.succeed(undefined))
  )
  if (found === undefined) return
  const role = found.Roles?.[0]?.RoleName
  if (role !== undefined) yield* iam.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: role })
  yield* iam
    .deleteInstanceProfile({ InstanceProfileName: name })
    .pipe(Effect.catchTag("AwsNotFound", () => Effect.void))
})
