/**
 * The normalized Check input: Envoy's `CheckRequest.attributes` (external_auth.proto, attribute_context.proto) in
 * proto field names, with Structs as plain JSON and bodies as text. Both front doors produce it: the gRPC decoder
 * (after unwrapping Structs) and JSON files for `phiguard explain` (Envoy's documented JSON shape).
 */
import { z } from 'zod';

const Address = z
  .object({
    socket_address: z
      .object({ address: z.string().optional(), port_value: z.coerce.number().int().optional() })
      .loose()
      .optional(),
  })
  .loose();

const Peer = z
  .object({
    principal: z.string().optional(),
    address: Address.optional(),
    service: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .loose();

const Timestamp = z.union([
  z.iso.datetime({ offset: true }),
  z.object({ seconds: z.coerce.number().optional(), nanos: z.number().optional() }).loose(),
]);

export const HttpRequestSchema = z
  .object({
    id: z.string().optional(),
    method: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    path: z.string().optional(),
    host: z.string().optional(),
    scheme: z.string().optional(),
    query: z.string().optional(),
    fragment: z.string().optional(),
    size: z.coerce.number().optional(),
    protocol: z.string().optional(),
    body: z.string().optional(),
  })
  .loose();

export const CheckInputSchema = z
  .object({
    attributes: z
      .object({
        source: Peer.optional(),
        destination: Peer.optional(),
        request: z.object({ time: Timestamp.optional(), http: HttpRequestSchema.optional() }).loose().optional(),
        context_extensions: z.record(z.string(), z.string()).optional(),
        metadata_context: z
          .object({ filter_metadata: z.record(z.string(), z.unknown()).optional() })
          .loose()
          .optional(),
      })
      .loose(),
  })
  .loose();

export type CheckInput = z.infer<typeof CheckInputSchema>;

/** Request time in ms, or undefined. */
export function requestTimeMs(input: CheckInput): number | undefined {
  const t = input.attributes.request?.time;
  if (t === undefined) return undefined;
  if (typeof t === 'string') return Date.parse(t);
  if (t.seconds === undefined) return undefined;
  return t.seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
