/**
 * End-to-end test support: the built CLI (`dist/bin.js`, built by globalSetup.ts) run as separate processes, their
 * output collected, kubectl run against them, and conditions polled in real time until a deadline. Every process
 * started here is killed when its Scope closes, and any survivor when the test file ends or the worker exits.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { root } from "../fixtures.ts"

/** The built command line. */
export const bin = join(root, "dist", "bin.js")

/** Why kubectl tests cannot run here, or undefined when kubectl is on PATH. */
export const kubectlMissing: string | undefined = await new Promise<string | undefined>((resolve) =>
  execFile("kubectl", ["version", "--client"], (error) =>
    resolve(error === null ? undefined : `kubectl is not on PATH (${error.message})`)
  )
)

const running = new Set<ChildProcess>()
const killAll = () => {
  for (const child of running) child.kill("SIGKILL")
  running.clear()
}
// A timed-out test may never run its finalizers; nothing may outlive the test file or the worker.
afterAll(killAll)
process.once("exit", killAll)

/** A process started from `dist/bin.js`, with everything it printed so far. */
export interface Process {
  readonly name: string
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** The exit code (or 128 + signal number), undefined while running. */
  readonly exitCode: () => number | undefined
  /** The JSON log lines printed to stdout so far. */
  readonly logs: () => ReadonlyArray<Record<string, unknown>>
}

const signals: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }

/**
 * Starts `node dist/bin.js ...args` in the current Scope; closing the Scope kills it (tests that check a graceful
 * shutdown send SIGTERM themselves with `stop`).
 */
export const start = (
  name: string,
  args: ReadonlyArray<string>,
  env?: Record<string, string>
): Effect.Effect<Process, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: root,
        env: { ...process.env, KUBECONFIG: "", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      running.add(child)
      let stdout = ""
      let stderr = ""
      let exitCode: number | undefined
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
      })
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
      })
      // "close", not "exit": by then everything the process printed has been read.
      child.on("close", (code, signal) => {
        running.delete(child)
        exitCode = code ?? 128 + (signals[signal ?? ""] ?? 0)
      })
      const process_: Process = {
        name,
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        exitCode: () => exitCode,
        logs: () =>
          stdout
            .split("\n")
            .filter((line) => line.startsWith("{"))
            .flatMap((line) => {
              try {
                return [JSON.parse(line) as Record<string, unknown>]
              } catch {
                return []
              }
            })
      }
      return process_
    }),
    (started) => stop(started, "SIGKILL").pipe(Effect.asVoid)
  )

/** Sends `signal` and waits for the exit code; SIGKILL after 10 s if the process is still running. */
export const stop = (started: Process, signal: NodeJS.Signals): Effect.Effect<number> =>
  Effect.gen(function* () {
    if (started.exitCode() === undefined) started.child.kill(signal)
    const exited = yield* poll(Effect.sync(started.exitCode), { timeout: "10 seconds", interval: "50 millis" }).pipe(
      Effect.option
    )
    if (exited._tag === "Some") return exited.value
    started.child.kill("SIGKILL")
    return yield* poll(Effect.sync(started.exitCode), { timeout: "5 seconds", interval: "50 millis" }).pipe(
      Effect.orDie
    )
  })

/** A condition that did not hold before its deadline. */
export class Timeout extends Error {}

/**
 * Evaluates `check` every `interval` until it returns a value other than undefined, or fails with `Timeout` after
 * `timeout` (real time: tests using this run with `it.live`).
 */
export const poll = <A, E, R>(
  check: Effect.Effect<A | undefined, E, R>,
  options: { readonly timeout: Duration.Input; readonly interval?: Duration.Input; readonly what?: () => string }
): Effect.Effect<A, E | Timeout, R> => {
  const loop: Effect.Effect<A, E, R> = Effect.flatMap(check, (value) =>
    value === undefined
      ? Effect.sleep(options.interval ?? "250 millis").pipe(Effect.andThen(loop))
      : Effect.succeed(value)
  )
  return loop.pipe(
    Effect.timeoutOrElse({
      duration: options.timeout,
      orElse: () =>
        Effect.fail(
          new Timeout(
            `timed out after ${Duration.format(Duration.fromInputUnsafe(options.timeout))}: ${options.what?.() ?? ""}`
          )
        )
    })
  )
}

/** Waits for a JSON log line of `started` whose message is `message`; fails early with its output if it exits. */
export const waitForLog = (started: Process, message: string | RegExp, timeout: Duration.Input = "30 seconds") =>
  poll(
    Effect.sync(() => {
      const found = started
        .logs()
        .find((log) =>
          typeof message === "string" ? log.message === message : message.test(String(log.message ?? ""))
        )
      if (found !== undefined) return found
      if (started.exitCode() !== undefined) throw new Error(`${started.name} exited:\n${output(started)}`)
      return undefined
    }),
    { timeout, what: () => `${started.name} never logged ${String(message)}:\n${output(started)}` }
  ).pipe(Effect.orDie)

/** The tail of a process's output, for failure messages. */
export const output = (started: Process): string =>
  `exit code: ${started.exitCode()}\nstdout:\n${started.stdout().slice(-4000)}\nstderr:\n${started.stderr().slice(-4000)}`

/** What `dev` printed: where its API server, operations endpoints and kubeconfig are. */
export interface Dev {
  readonly process: Process
  readonly apiServer: string
  readonly operations: string
  readonly kubeconfig: string
}

/** Starts `dev` on free ports with a kubeconfig at `kubeconfig`, and waits until it prints that it is ready. */
export const startDev = (
  kubeconfig: string,
  extraArgs: ReadonlyArray<string> = []
): Effect.Effect<Dev, never, Scope.Scope> =>
  Effect.gen(function* () {
    const dev = yield* start("dev", ["dev", "--port", "0", "--write-kubeconfig", kubeconfig, ...extraArgs])
    const printed = yield* poll(
      Effect.sync(() => {
        if (dev.exitCode() !== undefined) throw new Error(`dev exited:\n${output(dev)}`)
        const text = dev.stdout()
        if (!text.includes("Ready. Press Ctrl-C to stop.")) return undefined
        const field = (label: string) => {
          const value = new RegExp(`^${label}: (\\S+)`, "m").exec(text)?.[1]
          assert.isDefined(value, `dev printed no "${label}:" line:\n${text}`)
          return value!
        }
        return { apiServer: field("API server"), operations: field("Operations"), kubeconfig: field("Kubeconfig") }
      }),
      { timeout: "60 seconds", what: () => output(dev) }
    ).pipe(Effect.orDie)
    return { process: dev, ...printed }
  })

/** A temporary directory, removed with the Scope. */
export const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "karpenter-e2e-"))),
  (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
)

/** What a kubectl run printed. */
export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** kubectl against the cluster of `kubeconfig`, with its discovery cache in `directory`. */
export const kubectlFor =
  (kubeconfig: string, directory: string) =>
  (...args: ReadonlyArray<string>): Effect.Effect<Run> =>
    Effect.callback<Run>((resume) => {
      execFile(
        "kubectl",
        ["--cache-dir", join(directory, "kubectl-cache"), ...args],
        { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }))
      )
    })

/** Fails the test with kubectl's output unless the run succeeded; returns its stdout. */
export const ok = (run: Run, what: string): string => {
  assert.strictEqual(run.code, 0, `kubectl ${what} failed:\n${run.stdout}\n${run.stderr}`)
  return run.stdout
}

/** `kubectl get <kind> -o json`'s items. */
export const items = (kubectl: ReturnType<typeof kubectlFor>, ...args: ReadonlyArray<string>) =>
  Effect.map(kubectl("get", ...args, "-o", "json"), (run) => {
    if (run.code !== 0) return undefined
    return (JSON.parse(run.stdout) as { items: Array<any> }).items
  })

/** An HTTP GET: the status and the body. */
export const httpGet = (url: string): Effect.Effect<{ readonly status: number; readonly body: string }> =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  })
