/**
 * An SDK request handler that answers from a script of AWS response documents and records every request the SDK
 * built (signed, serialized), so the real clients' request building and response/error parsing run in tests.
 */
import { HttpResponse } from "@smithy/core/transport"

/** A response to give: status, body (an XML or JSON document) and extra headers. */
export interface Answer {
  readonly status: number
  readonly body: string
  readonly headers?: Record<string, string>
}

/** What the SDK sent. */
export interface Sent {
  readonly method: string
  readonly hostname: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string
}

/** Static credentials, so no credential provider chain runs. */
export const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG" }

/** A handler answering `answers` in order (the last one repeats); `sent` lists the requests. */
export const make = (answers: ReadonlyArray<Answer>) => {
  const sent: Array<Sent> = []
  const requestHandler = {
    handle: async (request: {
      method: string
      hostname: string
      path: string
      headers: Record<string, string>
      body?: unknown
    }) => {
      const answer = answers[Math.min(sent.length, answers.length - 1)]!
      sent.push({
        method: request.method,
        hostname: request.hostname,
        path: request.path,
        headers: request.headers,
        body:
          typeof request.body === "string"
            ? request.body
            : request.body instanceof Uint8Array
              ? new TextDecoder().decode(request.body)
              : ""
      })
      return {
        response: new HttpResponse({
          statusCode: answer.status,
          headers: { "content-type": contentType(answer.body), ...answer.headers },
          body: Buffer.from(answer.body)
        })
      }
    },
    updateHttpClientConfig: () => {},
    httpHandlerConfigs: () => ({})
  }
  return { requestHandler, sent }
}

const contentType = (body: string): string => (body.startsWith("<") ? "text/xml" : "application/x-amz-json-1.1")

/** The parameters of an EC2/IAM query-protocol request body. */
export const form = (sent: Sent): Record<string, string> => Object.fromEntries(new URLSearchParams(sent.body))

/** An EC2 error document. */
export const ec2Error = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-err-1</RequestID></Response>`
