/**
 * The command-line interface: the commands and their flags, written against services only. `bin.ts` provides the
 * platform and picks the implementations.
 */
import * as Console from "effect/Console"
import * as Argument from "effect/cli/Argument"
import type * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import * as Result from "effect/Result"
import * as Crd from "../api/Crd.ts"
import * as Catalog from "../cloudprovider/Catalog.ts"
import type { KubeClient } from "../kube/KubeClient.ts"
import type * as AwsWorld from "./AwsWorld.ts"
import * as Explain from "./Explain.ts"
import * as Manifests from "./Manifests.ts"
import * as Options from "./Options.ts"
import * as Schedule from "./Schedule.ts"
import * as Simulate from "./Simulate.ts"
import * as Snapshot from "./Snapshot.ts"
import { version } from "./Version.ts"
import * as WhatIf from "./WhatIf.ts"

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
).pipe(
  Command.withDescription(
    "Print the NodePool, NodeClaim, NodeOverlay, KWOKNodeClass and EC2NodeClass CRDs generated from the API schemas"
  )
)

/** `--instance-types`, shared by `schedule` and `simulate`. */
const instanceTypesFlag = Flag.String("instance-types").pipe(
  Flag.withDescription(
    "an instance-type catalogue (JSON, the format of kwok-instance-types.json); default: KWOK's. Inputs with an EC2NodeClass run on the fake AWS world and its EC2 types instead"
  ),
  Flag.optional
)

/** `--feature-gates`, shared by `schedule` and `simulate`: the controller's syntax and gates. */
const featureGatesFlag = Flag.String("feature-gates").pipe(
  Flag.withDescription(
    "feature gates for the run, as the controller's flag (e.g. NodeRepair=true,StaticCapacity=true); for simulate, over the Scenario's spec.featureGates"
  ),
  Flag.optional
)

/** `--min-values-policy`, shared by `schedule` and `simulate`: the controller's flag and values. */
const minValuesPolicyFlag = Flag.Literals("min-values-policy", Options.minValuesPolicies).pipe(
  Flag.withDescription(
    "Strict: NodeClaims meet every requirement's minValues; BestEffort: a NodeClaim that cannot lowers them to what it gets"
  ),
  Flag.withDefault(Options.defaults.minValuesPolicy)
)

/** `-o json|text` of `schedule`. */
const outputFlag = Flag.Literals("output", ["json", "text"]).pipe(
  Flag.withAlias("o"),
  Flag.withDescription("output format"),
  Flag.withDefault("text")
)

/** `-o json|text|html` of `simulate`: html is the report (SimulationReport). */
const simulateOutputFlag = Flag.Literals("output", ["json", "text", "html"]).pipe(
  Flag.withAlias("o"),
  Flag.withDescription("output format (html: the self-contained report page)"),
  Flag.withDefault("text")
)

/** `schedule`: a dry-run of one provisioning pass over manifests; inputs on EC2NodeClasses on the `aws` world. */
export const schedule = (aws?: Effect.Effect<AwsWorld.AwsWorld>) =>
  Command.make(
    "schedule",
    {
      files: Flag.String("file").pipe(
        Flag.withAlias("f"),
        Flag.withDescription("a manifest file or directory (repeatable)"),
        Flag.atLeast(1)
      ),
      instanceTypes: instanceTypesFlag,
      output: outputFlag,
      featureGates: featureGatesFlag,
      minValuesPolicy: minValuesPolicyFlag
    },
    Effect.fn("Cli.schedule")(function* ({ files, instanceTypes, output, featureGates, minValuesPolicy }) {
      const printed = yield* Schedule.run({
        files,
        instanceTypes: Option.getOrUndefined(instanceTypes),
        output,
        featureGates: Option.getOrUndefined(featureGates),
        minValuesPolicy,
        ...(aws === undefined ? {} : { aws })
      })
      yield* Console.log(printed)
    })
  ).pipe(
    Command.withDescription(
      "Dry-run one provisioning pass: where pending pods would go, which NodeClaims would launch, and why pods cannot be placed"
    )
  )

/**
 * `simulate`: a scenario on the embedded cluster in virtual time; its progress on `terminal`, if one is given;
 * scenarios on EC2NodeClasses on the `aws` world.
 */
export const simulate = (
  environment: Simulate.Environment,
  terminal?: Simulate.Terminal,
  aws?: Effect.Effect<AwsWorld.AwsWorld>
) =>
  Command.make(
    "simulate",
    {
      files: Flag.String("file").pipe(
        Flag.withAlias("f"),
        Flag.withDescription("the scenario file (objects applied at t=0 and one Scenario document); repeatable"),
        Flag.atLeast(1)
      ),
      instanceTypes: instanceTypesFlag,
      featureGates: featureGatesFlag,
      minValuesPolicy: minValuesPolicyFlag,
      output: simulateOutputFlag,
      report: Flag.String("report").pipe(
        Flag.withDescription("also write the HTML report (charts, disruptions, events) to this file"),
        Flag.optional
      ),
      maxDuration: Flag.String("max-duration").pipe(
        Flag.withDescription(
          `refuse a scenario whose spec.duration is longer than this, e.g. 90d or 2160h (default ${Simulate.defaultMaxDuration.text})`
        ),
        Flag.filterMap(
          (text) => Option.fromUndefinedOr(Simulate.parseMaxDuration(text)),
          () => "expected a duration such as 90d, 36h or 90m"
        ),
        Flag.withDefault(Simulate.defaultMaxDuration)
      )
    },
    Effect.fn("Cli.simulate")(function* ({
      files,
      instanceTypes,
      featureGates,
      minValuesPolicy,
      output,
      report,
      maxDuration
    }) {
      const printed = yield* Simulate.run(environment, {
        files,
        instanceTypes: Option.getOrUndefined(instanceTypes),
        featureGates: Option.getOrUndefined(featureGates),
        minValuesPolicy,
        output,
        report: Option.getOrUndefined(report),
        maxDuration,
        ...(terminal === undefined ? {} : { terminal }),
        ...(aws === undefined ? {} : { aws })
      })
      yield* Console.log(printed)
      // On stderr: stdout stays the output alone (JSON a script parses).
      if (Option.isSome(report)) {
        const path = yield* Path.Path
        yield* Console.error(`simulate: report written to ${path.resolve(report.value)}`)
      }
    })
  ).pipe(
    Command.withDescription(
      "Run a scenario on the embedded cluster in virtual time (hours in seconds, deterministic) and print the timeline"
    )
  )

/** What `dev` is asked to run. */
export interface DevOptions {
  /** The API port on 127.0.0.1; 0 picks a free one (the URL printed says which). */
  readonly port: number
  /** Where to write the kubeconfig; default `<tmpdir>/karpenter-effect-dev-<port>.kubeconfig`. */
  readonly writeKubeconfig: string | undefined
  /** Manifests applied once the cluster is up. */
  readonly files: ReadonlyArray<string>
  /** False with `--no-controllers`: the cluster only, for controllers running as other processes. */
  readonly controllers: boolean
  /** Serve the fault switch (`/karpenter-effect/faults`) for fault tests. */
  readonly faultInjection: boolean
  /** Serve plain HTTP without the bearer token (`--insecure`): any local process may then use the API. */
  readonly insecure: boolean
  /** The port of /metrics, /healthz and /readyz on 127.0.0.1; default 0 (a free one, printed). */
  readonly metricsPort: number
  /** The options from the environment (LOG_LEVEL, BATCH_*_DURATION, FEATURE_GATES, PREFERENCE_POLICY, ...). */
  readonly operator: Options.Options
}

/** What the composition root hands the commands: the implementations they run on. */
export interface Environment<R> {
  readonly simulation: Simulate.Environment
  /** The fake AWS world `schedule` and `simulate` run inputs on EC2NodeClasses on; without it they are refused. */
  readonly aws?: Effect.Effect<AwsWorld.AwsWorld>
  /** Where `simulate` shows its progress (stderr); none without. */
  readonly terminal?: Simulate.Terminal
  /** Runs the operator against a real cluster until interrupted. */
  readonly controller: (options: Options.Options) => Effect.Effect<void, Schedule.InvalidInput, R>
  /** Runs the embedded cluster (and the controllers) until interrupted. */
  readonly dev: (options: DevOptions) => Effect.Effect<void, Schedule.InvalidInput, R>
  /** A read-only client of the cluster a kubeconfig names, for `snapshot` and `explain`. */
  readonly cluster: (options: ClusterOptions) => Layer.Layer<KubeClient, Schedule.InvalidInput>
  /** The process environment, for options given as variables. */
  readonly env: Readonly<Record<string, string | undefined>>
}

/** Which cluster `snapshot` and `explain` read. */
export interface ClusterOptions {
  /** Default: $KUBECONFIG, then in-cluster, then ~/.kube/config (as kubectl). */
  readonly kubeconfig: string | undefined
  /** Default: the kubeconfig's current context. */
  readonly context: string | undefined
}

/** `--kubeconfig` and `--context`, shared by `snapshot` and `explain`. */
const clusterFlags = {
  kubeconfig: Flag.String("kubeconfig").pipe(
    Flag.withDescription("the kubeconfig of the cluster to read (default: $KUBECONFIG, in-cluster, ~/.kube/config)"),
    Flag.optional
  ),
  context: Flag.String("context").pipe(
    Flag.withDescription("the kubeconfig context (default: its current context)"),
    Flag.optional
  )
}

const clusterOptions = (flags: {
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
}): ClusterOptions => ({
  kubeconfig: Option.getOrUndefined(flags.kubeconfig),
  context: Option.getOrUndefined(flags.context)
})

/** `snapshot`: a live cluster's objects, read-only, as one file the offline commands accept. */
export const snapshot = <R>(environment: Environment<R>) =>
  Command.make(
    "snapshot",
    {
      ...clusterFlags,
      outputFile: Flag.String("output-file").pipe(
        Flag.withDescription("write the snapshot here instead of printing it"),
        Flag.optional
      )
    },
    Effect.fn("Cli.snapshot")(function* (flags) {
      const items = yield* Snapshot.read().pipe(Effect.provide(environment.cluster(clusterOptions(flags))))
      const text = Snapshot.render(
        items,
        `karpenter-effect snapshot: ${items.length} objects (secrets and env values left out)`
      )
      if (Option.isNone(flags.outputFile)) return yield* Console.log(text.trimEnd())
      const file = flags.outputFile.value
      const fs = yield* FileSystem.FileSystem
      yield* fs
        .writeFileString(file, text)
        .pipe(Effect.mapError((error) => new Schedule.InvalidInput({ message: `${file}: ${error.message}` })))
    })
  ).pipe(
    Command.withDescription(
      "Read a live cluster (LIST requests only) and write its NodePools, NodeClaims, nodes, pods and workloads as one YAML file for schedule, simulate and explain -f"
    )
  )

const optionsFromEnvironment = (env: Readonly<Record<string, string | undefined>>) =>
  Result.match(Options.fromEnvironment(env), {
    onSuccess: (options) => Effect.succeed(options),
    onFailure: (message) => Effect.fail(new Schedule.InvalidInput({ message }))
  })

/** A port flag: 0 to 65535, 0 for any free port. */
const portFlag = (name: string, description: string, fallback: number) =>
  Flag.Int(name).pipe(
    Flag.withDescription(description),
    Flag.filter(Options.isPort, () => Options.portExpected),
    Flag.withDefault(fallback)
  )

/** `dev`: the embedded cluster served over HTTP for kubectl, with the KWOK provider and the controllers, in real time. */
export const dev = <R>(environment: Environment<R>) =>
  Command.make(
    "dev",
    {
      port: portFlag("port", "the API server port on 127.0.0.1 (0: any free port)", 8080),
      writeKubeconfig: Flag.String("write-kubeconfig").pipe(
        Flag.withDescription("write a kubeconfig for the API server here (default: in the temporary directory)"),
        Flag.optional
      ),
      files: Flag.String("file").pipe(
        Flag.withAlias("f"),
        Flag.withDescription("a manifest file or directory to apply once the cluster is up (repeatable)"),
        Flag.atLeast(0)
      ),
      noControllers: Flag.Boolean("no-controllers").pipe(
        Flag.withDescription("serve the cluster (API, control plane, KWOK) without Karpenter's controllers"),
        Flag.withDefault(false)
      ),
      faultInjection: Flag.Boolean("fault-injection").pipe(
        Flag.withDescription("serve the fault switch at /karpenter-effect/faults (for fault tests)"),
        Flag.withDefault(false)
      ),
      insecure: Flag.Boolean("insecure").pipe(
        Flag.withDescription(
          "serve the API over plain HTTP without the bearer token of the kubeconfig: any local process may use it (loopback Host names only and no browser requests still hold)"
        ),
        Flag.withDefault(false)
      ),
      metricsPort: portFlag(
        "metrics-port",
        "the port of /metrics, /healthz and /readyz on 127.0.0.1 (0: any free port)",
        0
      )
    },
    Effect.fn("Cli.dev")(function* (flags) {
      yield* environment.dev({
        port: flags.port,
        writeKubeconfig: Option.getOrUndefined(flags.writeKubeconfig),
        files: flags.files,
        controllers: !flags.noControllers,
        faultInjection: flags.faultInjection,
        insecure: flags.insecure,
        metricsPort: flags.metricsPort,
        operator: yield* optionsFromEnvironment(environment.env)
      })
    })
  ).pipe(
    Command.withDescription(
      "Run the embedded cluster with the KWOK provider and the controllers in real time, serving the Kubernetes API on 127.0.0.1 so kubectl can connect"
    )
  )

/** What `explain` reads: `-f` snapshot files, or else the cluster of the kubeconfig. */
const explainFlags = {
  ...clusterFlags,
  files: Flag.String("file").pipe(
    Flag.withAlias("f"),
    Flag.withDescription("a snapshot file or manifests (repeatable) instead of the live cluster"),
    Flag.atLeast(0)
  ),
  instanceTypes: instanceTypesFlag,
  output: outputFlag
}

/** The objects `explain` decides on and the catalogue it prices with. */
const explainInput = <R>(
  environment: Environment<R>,
  flags: {
    readonly files: ReadonlyArray<string>
    readonly kubeconfig: Option.Option<string>
    readonly context: Option.Option<string>
    readonly instanceTypes: Option.Option<string>
  }
) =>
  Effect.gen(function* () {
    const manifests =
      flags.files.length > 0
        ? yield* Manifests.load(flags.files).pipe(
            Effect.mapError((error) => new Schedule.InvalidInput({ message: error.message }))
          )
        : Manifests.fromObjects(
            yield* Snapshot.read().pipe(Effect.provide(environment.cluster(clusterOptions(flags)))),
            "cluster"
          )
    const catalogue = Option.isNone(flags.instanceTypes)
      ? Catalog.kwok()
      : yield* Schedule.loadCatalogue(flags.instanceTypes.value)
    return { manifests, catalogue }
  })

/** `explain`: why a pod is pending, why a node is or is not disrupted, on an in-memory copy of the cluster. */
export const explain = <R>(environment: Environment<R>) =>
  Command.make("explain").pipe(
    Command.withDescription(
      "Explain the autoscaler's decisions about a live cluster (read-only) or a snapshot: why a pod is pending, why a node is or is not disrupted, what a change would cause"
    ),
    Command.withSubcommands([
      Command.make(
        "pod",
        { ...explainFlags, pod: Argument.String("namespace/name") },
        Effect.fn("Cli.explainPod")(function* (flags) {
          const { manifests, catalogue } = yield* explainInput(environment, flags)
          const key = flags.pod.includes("/") ? flags.pod : `default/${flags.pod}`
          const explanation = yield* Explain.explainPod(manifests, catalogue, key)
          yield* Console.log(
            flags.output === "json" ? JSON.stringify(explanation, null, 2) : Explain.podText(explanation)
          )
        })
      ).pipe(
        Command.withDescription(
          "Why the pod is pending: per NodePool, what rules it out; or where it would go and what would launch"
        )
      ),
      Command.make(
        "node",
        { ...explainFlags, node: Argument.String("name") },
        Effect.fn("Cli.explainNode")(function* (flags) {
          const { manifests, catalogue } = yield* explainInput(environment, flags)
          const explanation = yield* Explain.explainNode(manifests, catalogue, flags.node)
          yield* Console.log(
            flags.output === "json" ? JSON.stringify(explanation, null, 2) : Explain.nodeText(explanation)
          )
        })
      ).pipe(
        Command.withDescription(
          "Why the node is or is not a disruption candidate now: protections, budgets, consolidateAfter, its pods, and the price comparison of consolidating it"
        )
      ),
      Command.make(
        "what-if",
        {
          ...explainFlags,
          deleteNode: Flag.String("delete-node").pipe(
            Flag.withDescription("the node is deleted (drained): where its pods would go"),
            Flag.optional
          ),
          scale: Flag.String("scale").pipe(
            Flag.withDescription(
              "deployment/NAMESPACE/NAME=REPLICAS: the pods it would add (where they go) or remove (what disruption would do then)"
            ),
            Flag.optional
          ),
          apply: Flag.String("apply").pipe(
            Flag.withDescription(
              "a file of changed NodePools, as kubectl apply would store them: the drift and disruption that follow"
            ),
            Flag.optional
          )
        },
        Effect.fn("Cli.explainWhatIf")(function* (flags) {
          const change = yield* whatIfChange(flags)
          const { manifests, catalogue } = yield* explainInput(environment, flags)
          const result = yield* WhatIf.whatIf(manifests, catalogue, change)
          yield* Console.log(flags.output === "json" ? JSON.stringify(result, null, 2) : WhatIf.text(result))
        })
      ).pipe(
        Command.withDescription(
          "Try a change on an in-memory copy (never on the cluster) and show what the controllers would do next: the moves, the launches with their prices, what stays pending, and what disruption would do"
        )
      )
    ])
  )

/** The one change a what-if tries. */
const whatIfChange = (flags: {
  readonly deleteNode: Option.Option<string>
  readonly scale: Option.Option<string>
  readonly apply: Option.Option<string>
}) => {
  const changes: Array<Effect.Effect<WhatIf.Change, Schedule.InvalidInput, FileSystem.FileSystem | Path.Path>> = []
  if (Option.isSome(flags.deleteNode))
    changes.push(Effect.succeed({ _tag: "DeleteNode", node: flags.deleteNode.value }))
  if (Option.isSome(flags.scale)) {
    const text = flags.scale.value
    const change = WhatIf.parseScale(text)
    changes.push(
      change === undefined
        ? Effect.fail(
            new Schedule.InvalidInput({
              message: `invalid value ${JSON.stringify(text)} for flag --scale: expected deployment/NAMESPACE/NAME=REPLICAS`
            })
          )
        : Effect.succeed(change)
    )
  }
  if (Option.isSome(flags.apply)) {
    const file = flags.apply.value
    changes.push(
      Manifests.load([file]).pipe(
        Effect.mapError((error) => new Schedule.InvalidInput({ message: error.message })),
        Effect.flatMap(({ nodePools }) =>
          nodePools.length === 0
            ? Effect.fail(new Schedule.InvalidInput({ message: `${file}: no NodePool to apply` }))
            : Effect.succeed<WhatIf.Change>({ _tag: "Apply", nodePools })
        )
      )
    )
  }
  const [change] = changes
  return changes.length === 1 && change !== undefined
    ? change
    : Effect.fail(
        new Schedule.InvalidInput({
          message:
            "what-if needs one change: --delete-node NAME, --scale deployment/NAMESPACE/NAME=REPLICAS or --apply FILE"
        })
      )
}

/** The root command (`controller` is parsed apart: see {@link run}). */
export const command = <R>(environment: Environment<R>) =>
  Command.make("karpenter-effect").pipe(
    Command.withDescription(
      "A Kubernetes node autoscaler that speaks Karpenter's v1 API (NodePool, NodeClaim), written as Effect programs. `karpenter-effect controller --help` lists the options of the production command."
    ),
    Command.withSubcommands([
      crds,
      schedule(environment.aws),
      simulate(environment.simulation, environment.terminal, environment.aws),
      dev(environment),
      snapshot(environment),
      explain(environment)
    ])
  )

/**
 * `controller [flags]`: the operator against a real cluster. Its flags are upstream's (Go flag syntax, each with an
 * environment variable), parsed here rather than by the command-line library so that an unknown flag or a bad value
 * is one line and exit code 2, as for every invalid input.
 */
export const controller = <R>(environment: Environment<R>, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const parsed = Options.parse(args, environment.env)
    if (Result.isFailure(parsed)) return yield* new Schedule.InvalidInput({ message: parsed.failure })
    if (parsed.success._tag === "Help") {
      yield* Console.log(
        `Run Karpenter's controllers against the cluster of the kubeconfig (or in-cluster), with the KWOK provider or (--cloud-provider aws) the AWS one, under leader election.\n\n${Options.usage("karpenter-effect controller")}`
      )
      return
    }
    yield* environment.controller(parsed.success.options)
  })

const expectation = (expected: string) => `expected ${expected.replace(/^expected:?\s*/i, "")}`

const didYouMean = (suggestions: ReadonlyArray<string>) =>
  suggestions.length === 0 ? "" : ` (did you mean ${suggestions.join(" or ")}?)`

/** One line for what the command-line library rejected: a flag, a value, an argument or a command. */
const usageMessage = (error: CliError.NonShowHelpErrors): string => {
  switch (error._tag) {
    case "UnrecognizedOption":
      return `unknown flag ${error.option}${error.command === undefined ? "" : ` for ${error.command.join(" ")}`}${didYouMean(error.suggestions)}`
    case "MissingOption":
      return `missing required flag --${error.option}`
    case "InvalidValue": {
      const what = error.kind === "flag" ? `flag --${error.option}` : `argument <${error.option}>`
      return error.value === ""
        ? `${what} needs a value`
        : `invalid value ${JSON.stringify(error.value)} for ${what}: ${expectation(error.expected)}`
    }
    case "UnknownSubcommand":
      return `unknown command ${JSON.stringify(error.subcommand)}${didYouMean(error.suggestions)}`
    default:
      return error.message
  }
}

/** The library's usage errors as one line, as for every other invalid input (bin.ts: stderr, exit code 2). */
const usageError = (errors: ReadonlyArray<CliError.NonShowHelpErrors>) =>
  new Schedule.InvalidInput({
    message: errors
      .map(usageMessage)
      .join("; ")
      .replace(/\p{Cc}+/gu, " ")
  })

/** The library's presenter, but silent on usage errors: the help text would bury the one line that matters. */
const presenter: CliOutput.Presenter = {
  present: (event) => (event._tag === "InvalidInvocation" ? Effect.void : CliOutput.defaultPresenter.present(event))
}

/** Runs a command line (the arguments after the program name). */
export const run =
  <R>(environment: Environment<R>) =>
  (args: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      if (args[0] === "controller") return yield* controller(environment, args.slice(1))
      return yield* Command.runWith(command(environment), { version })(args).pipe(
        Effect.provideService(CliOutput.Presenter, presenter),
        // Help asked for, or shown for a bare command, stays as it is (exit code 0).
        Effect.catchTag("ShowHelp", (help) => Effect.fail(help.errors.length === 0 ? help : usageError(help.errors)))
      )
    })
