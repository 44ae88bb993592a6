/** The instance profile Karpenter manages for an EC2NodeClass's `role` (upstream `pkg/providers/instanceprofile`). */
import type * as IamSdk from "@aws-sdk/client-iam"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as EC2NodeClass from "../../../../src/api/EC2NodeClass.ts"
import * as Labels from "../../../../src/api/Labels.ts"
import * as Hash from "../../../../src/controllers/nodepool/hash/Hash.ts"
import type { AwsFailure } from "../sdk/AwsError.ts"
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

/** How long a profile read from IAM is trusted (upstream `InstanceProfileTTL`). */
const profileTtlMillis = Duration.toMillis(Duration.minutes(15))

/** The managed profiles' operations, over one cache of the profiles read. */
export interface InstanceProfiles {
  /**
   * Makes sure the profile exists with `role` as its only role (upstream `DefaultProvider.Create`): created with the
   * tags when missing; a different role is removed first; a role's path is dropped (AddRoleToInstanceProfile takes
   * names).
   */
  ensure(name: string, role: string, tags: Readonly<Record<string, string>>): Effect.Effect<void, AwsFailure>
  /** Deletes the profile, removing its role first (upstream `DefaultProvider.Delete`); one already gone is fine. */
  remove(name: string): Effect.Effect<void, AwsFailure>
}

/** The operations with an empty cache; make one per controller. */
export const make: Effect.Effect<InstanceProfiles, never, Iam> = Effect.map(Effect.service(Iam), (iam) => {
  // Of a profile, only its role is read: the cache keeps that (upstream keeps the whole profile).
  const cache = new Map<string, { readonly role: string | undefined; readonly expiresAt: number }>()
  const remember = (name: string, role: string | undefined) =>
    Effect.map(Clock.currentTimeMillis, (now) => void cache.set(name, { role, expiresAt: now + profileTtlMillis }))
  const roleOf = (profile: IamSdk.InstanceProfile | undefined) => profile?.Roles?.[0]?.RoleName

  // upstream `DefaultProvider.Get`: the cached profile, else IAM's (then cached).
  const attachedRole = (name: string) =>
    Effect.gen(function* () {
      const cached = cache.get(name)
      if (cached !== undefined && (yield* Clock.currentTimeMillis) < cached.expiresAt) return cached.role
      const role = roleOf((yield* iam.getInstanceProfile({ InstanceProfileName: name })).InstanceProfile)
      yield* remember(name, role)
      return role
    })

  const ensure = Effect.fn("InstanceProfiles.ensure")(function* (
    name: string,
    role: string,
    tags: Readonly<Record<string, string>>
  ) {
    const current = yield* attachedRole(name).pipe(
      Effect.catchTag("AwsNotFound", () =>
        Effect.map(
          iam.createInstanceProfile({
            InstanceProfileName: name,
            Tags: Object.keys(tags)
              .sort()
              .map((key) => ({ Key: key, Value: tags[key] }))
          }),
          (output) => roleOf(output.InstanceProfile)
        )
      )
    )
    // Upstream compares the spec's role, path included, with the attached role's name (so does v1.14).
    if (current === role) return
    if (current !== undefined)
      yield* iam.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: current })
    const roleName = role.split("/").at(-1) ?? role
    yield* iam.addRoleToInstanceProfile({ InstanceProfileName: name, RoleName: roleName })
    yield* remember(name, roleName)
  })

  const remove = Effect.fn("InstanceProfiles.remove")(function* (name: string) {
    const found = yield* iam.getInstanceProfile({ InstanceProfileName: name }).pipe(
      Effect.map((output) => output.InstanceProfile),
      Effect.catchTag("AwsNotFound", () => Effect.succeed(undefined))
    )
    if (found === undefined) return
    const attached = roleOf(found)
    if (attached !== undefined) {
      yield* iam.removeRoleFromInstanceProfile({ InstanceProfileName: name, RoleName: attached })
    }
    yield* iam
      .deleteInstanceProfile({ InstanceProfileName: name })
      .pipe(Effect.catchTag("AwsNotFound", () => Effect.void))
  })

  return { ensure, remove }
})
