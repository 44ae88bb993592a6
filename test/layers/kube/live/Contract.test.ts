import * as Effect from "effect/Effect"
import * as MemoryKube from "../../../../layers/kube/memory/MemoryKubeClient.ts"
import { kubeClientContract } from "../../../kube/KubeClientContract.ts"
import * as Facade from "./Facade.ts"

const compact = Effect.gen(function* () {
  const hooks = yield* MemoryKube.MemoryApiServer
  yield* hooks.compact
})

kubeClientContract("live over the HTTP façade", Facade.layer(), { compact, live: true })
