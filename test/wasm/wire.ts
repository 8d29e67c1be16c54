/** Small protobuf writers for the tests: CheckResponse bytes as phiguard's service would send them. */

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

export function lengthDelimited(field: number, body: Uint8Array | string): number[] {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return [...varint((field << 3) | 2), ...varint(b.length), ...b];
}

function headerOption(key: string, value: string): Uint8Array {
  const hv = new Uint8Array([...lengthDelimited(1, key), ...lengthDelimited(2, value)]);
  return new Uint8Array(lengthDelimited(1, hv));
}

/** CheckResponse { status { code }, ok_response | denied_response }. */
export function checkResponse(
  r: { code: 0; headers: Array<[string, string]> } | { code: 7; status: number; body: string },
): Uint8Array {
  const status = new Uint8Array(r.code === 0 ? [] : [0x08, r.code]);
  if (r.code === 0) {
    const ok = r.headers.flatMap(([k, v]) => lengthDelimited(2, headerOption(k, v)));
    return new Uint8Array([...lengthDelimited(1, status), ...lengthDelimited(3, new Uint8Array(ok))]);
  }
  const denied = [
    ...lengthDelimited(1, new Uint8Array([0x08, ...varint(r.status)])),
    ...lengthDelimited(2, headerOption('content-type', 'application/fhir+json')),
    ...lengthDelimited(3, r.body),
  ];
  return new Uint8Array([...lengthDelimited(1, status), ...lengthDelimited(2, new Uint8Array(denied))]);
}
