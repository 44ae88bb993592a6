/**
 * The command-line interface: the commands and their flags, written against services only. `bin.ts` provides the
 * platform and picks the implementations.
 */
import { Console, Effect, FileSystem, Option, Path } from "effect"
import { Command, Flag } from "effect/cli"
import * as Crd from "../api/Crd.ts"
import * as Schedule from "./Schedule.ts"
import * as Simulate from "./Simulate.ts"

/** `crds`: print the generated CustomResourceDefinitions, or write them into a directory. */
export const crds = Command.make(
  "crds",
  {
    outputDir: Flag.String("output-dir").pipe(
      Flag.withAlias("d"),
      Flag.withDescription("write one file per CRD into this directory instead of printing them"),
      Flag.optional
    )
  },
  Effect.fn("Cli.crds")(function* ({ outputDir }) {
    if (Option.isNone(outputDir)) {
      yield* Console.log(Crd.definitions.map(Crd.render).join("").trimEnd())
      return
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(outputDir.value, { recursive: true })
    for (const definition of Crd.definitions) {
      yield* fs.writeFileString(path.join(outputDir.value, Crd.fileName(definition)), Crd.render(definition))
    }
  })
).pipe(Command.withDescription("Print the NodePool, NodeClaim and KWOKNodeClass CRDs generated from the API schemas"))

/** `--instance-types`, shared by `schedule` and `simulate`. */
const instanceTypesFlag = Flag.String("instance-types").pipe(
  Flag.withDescription("an instance-type catalogue (JSON, the format of kwok-instance-types.json); default: KWOK's"),
  Flag.optional
)

/** `-o json|text`, shared by `schedule` and `simulate`. */
const outputFlag = Flag.Literals("output", ["json", "text"]).pipe(
  Flag.withAlias("o"),
  Flag.withDescription("output format"),
  Flag.withDefault("text")
)

/** `schedule`: a dry-run of one provisioning pass over manifests. */
export const schedule = Command.make(
  "schedule",
  {
    files: Flag.String("file").pipe(
      Flag.withAlias("f"),
      Flag.withDescription("a manifest file or directory (repeatable)"),
      Flag.atLeast(1)
    ),
    instanceTypes: instanceTypesFlag,
    output: outputFlag
  },
  Effect.fn("Cli.schedule")(function* ({ files, instanceTypes, output }) {
    const printed = yield* Schedule.run({ files, instanceTypes: Option.getOrUndefined(instanceTypes), output })
    yield* Console.log(printed)
  })
).pipe(
  Command.withDescription(
    "Dry-run one provisioning pass: where pending pods would go, which NodeClaims would launch, and why pods cannot be placed"
  )
)

/** `simulate`: a scenario on the embedded cluster in virtual time. */
export const simulate = (environment: Simulate.Environment) =>
  Command.make(
    "simulate",
    {
      files: Flag.String("file").pipe(
        Flag.withAlias("f"),
        Flag.withDescription("the scenario file (objects applied at t=0 and one Scenario document); repeatable"),
        Flag.atLeast(1)
      ),
      instanceTypes: instanceTypesFlag,
      output: outputFlag
    },
    Effect.fn("Cli.simulate")(function* ({ files, instanceTypes, output }) {
      const printed = yield* Simulate.run(environment, {
        files,
        instanceTypes: Option.getOrUndefined(instanceTypes),
        output
      })
      yield* Console.log(printed)
    })
  ).pipe(
    Command.withDescription(
      "Run a scenario on the embedded cluster in virtual time (hours in seconds, deterministic) and print the timeline"
    )
  )

/** What the composition root hands the commands: the implementations they run on. */
export interface Environment {
  readonly simulation: Simulate.Environment
}

/** The root command. */
export const command = (environment: Environment) =>
  Command.make("karpenter-effect").pipe(
    Command.withDescription(
      "A Kubernetes node autoscaler that speaks Karpenter's v1 API (NodePool, NodeClaim), written as Effect programs."
    ),
    Command.withSubcommands([crds, schedule, simulate(environment.simulation)])
  )
