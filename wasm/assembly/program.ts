// The decision program `phiguard generate wasm-config` writes (generator/wasm/program.ts has the writer and the
// format). Parsed once at configure time; anything unexpected rejects the whole program (the filter then denies).
import { FhirTables } from './request-shape';

export const PROGRAM_MAGIC = 'phiguard-wasm-program';
export const PROGRAM_FORMAT = '1';

export class Verdict {
  constructor(
    public allow: bool,
    public status: u32,
    public rule: string,
    public reason: string,
    public agent: string,
    /** The OperationOutcome, with `{{decision-id}}` and (invalid requests) `{{reason}}` to fill in. */
    public body: string,
  ) {}
}

export class AgentTable {
  hosts: string[] = [];
  /** Each host's class: hosts that decide alike share their cells. */
  hostClass: i32[] = [];
  /** `class \t method \t key \t type` -> index into the verdicts, or -1 (DEFER). */
  cells: Map<string, i32> = new Map<string, i32>();
  constructor(public name: string) {}
}

export class Program {
  policyVersion: string = '';
  authzCluster: string = '';
  timeoutMs: u32 = 0;
  /** A deferred request goes on to the next filter (Envoy's ext_authz) instead of the filter's own Check call. */
  deferToNext: bool = false;
  fhir: FhirTables = new FhirTables();
  deferHeaders: string[] = [];
  verdicts: Verdict[] = [];
  agents: Map<string, AgentTable> = new Map<string, AgentTable>();
}

export function cellKey(host: i32, method: string, key: string, type: string): string {
  return host.toString() + '\t' + method + '\t' + key + '\t' + type;
}

function parseU32(s: string, max: u32): i64 {
  if (s.length == 0 || s.length > 9) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v > <i64>max ? -1 : v;
}

/** The program, or null when the text is not a complete program of this format. */
export function parseProgram(text: string): Program | null {
  const lines = text.split('\n');
  if (lines.length < 2) return null;
  const head = lines[0].split('\t');
  if (head.length != 2 || head[0] != PROGRAM_MAGIC || head[1] != PROGRAM_FORMAT) return null;
  const p = new Program();
  let agent: AgentTable | null = null;
  let ended = false;
  let sawPolicy = false;
  let sawAuthz = false;
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (ended) {
      if (line.length != 0) return null;
      continue;
    }
    const f = line.split('\t');
    const tag = f[0];
    if (tag == 'policy' && f.length == 2 && f[1].length > 0) {
      p.policyVersion = f[1];
      sawPolicy = true;
    } else if (tag == 'authz' && f.length == 3 && f[1].length > 0) {
      const t = parseU32(f[2], 60000);
      if (t <= 0) return null;
      p.authzCluster = f[1];
      p.timeoutMs = <u32>t;
      sawAuthz = true;
    } else if (tag == 'defer-to' && f.length == 2 && f[1] == 'next-filter' && !p.deferToNext) {
      p.deferToNext = true;
    } else if (tag == 'base' && f.length == 2) {
      p.fhir.bases.push(f[1].length == 0 ? [] : f[1].split('/'));
    } else if (tag == 'types' && f.length == 2) {
      const names = f[1].split(' ');
      for (let i = 0; i < names.length; i++) {
        p.fhir.types.add(names[i]);
        p.fhir.lowerTypes.add(names[i].toLowerCase());
      }
    } else if (tag == 'compartments' && f.length == 2) {
      const names = f[1].split(' ');
      for (let i = 0; i < names.length; i++) p.fhir.compartments.add(names[i]);
    } else if (tag == 'defer-header' && f.length == 2 && f[1].length > 0) {
      p.deferHeaders.push(f[1]);
    } else if (tag == 'verdict' && f.length == 7) {
      const status = parseU32(f[2], 599);
      if ((f[1] != 'allow' && f[1] != 'deny') || status < 100) return null;
      p.verdicts.push(new Verdict(f[1] == 'allow', <u32>status, f[3], f[4], f[5], f[6]));
    } else if (tag == 'agent' && f.length == 3 && f[1].length > 0) {
      if (p.agents.has(f[1])) return null;
      agent = new AgentTable(f[2]);
      p.agents.set(f[1], agent);
    } else if (tag == 'host' && f.length == 3 && agent != null) {
      const c = parseU32(f[2], 1000000);
      if (c < 0 || c > agent.hosts.length || agent.hosts.includes(f[1])) return null;
      agent.hosts.push(f[1]);
      agent.hostClass.push(<i32>c);
    } else if (tag == 'cell' && f.length == 6 && agent != null) {
      const h = parseU32(f[1], 1000000);
      const v = f[5] == '-' ? -1 : parseU32(f[5], 1000000);
      if (h < 0 || h >= agent.hosts.length || v < -1 || v >= p.verdicts.length) return null;
      // An invalid request line is never allowed in the proxy (the generator writes no such cell).
      if (f[3] == 'invalid' && v >= 0 && p.verdicts[<i32>v].allow) return null;
      agent.cells.set(cellKey(<i32>h, f[2], f[3], f[4]), <i32>v);
    } else if (tag == 'end' && f.length == 1) {
      ended = true;
    } else {
      return null;
    }
  }
  if (!ended || !sawPolicy || !sawAuthz || p.fhir.bases.length == 0 || p.fhir.types.size == 0) return null;
  // With ext_authz after the filter, an in-proxy allow would be Checked again: such a program is not valid.
  if (p.deferToNext) for (let i = 0; i < p.verdicts.length; i++) if (p.verdicts[i].allow) return null;
  return p;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function skipSpace(s: string, i: i32): i32 {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
    i++;
  }
  return i;
}

/**
 * The program inside an Istio `pluginConfig` ({"program": "..."}): Istio hands a WasmPlugin's pluginConfig Struct
 * to the plugin as JSON text. Only that one key is accepted; anything else is null.
 */
export function unwrapPluginConfig(text: string): string | null {
  let i = skipSpace(text, 0);
  if (i >= text.length || text.charCodeAt(i) != 0x7b) return text;
  i = skipSpace(text, i + 1);
  const key = '"program"';
  if (text.substr(i, key.length) != key) return null;
  i = skipSpace(text, i + key.length);
  if (i >= text.length || text.charCodeAt(i) != 0x3a) return null;
  i = skipSpace(text, i + 1);
  if (i >= text.length || text.charCodeAt(i) != 0x22) return null;
  i++;
  let out = '';
  let closed = false;
  while (i < text.length) {
    const c = text.charCodeAt(i++);
    if (c == 0x22) {
      closed = true;
      break;
    }
    if (c != 0x5c) {
      if (c < 0x20) return null;
      out += String.fromCharCode(c);
      continue;
    }
    if (i >= text.length) return null;
    const e = text.charCodeAt(i++);
    if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
    else if (e == 0x6e) out += '\n';
    else if (e == 0x74) out += '\t';
    else if (e == 0x72) out += '\r';
    else if (e == 0x62) out += '\b';
    else if (e == 0x66) out += '\f';
    else if (e == 0x75) {
      if (i + 4 > text.length) return null;
      let v = 0;
      for (let k = 0; k < 4; k++) {
        const d = hexDigit(text.charCodeAt(i + k));
        if (d < 0) return null;
        v = v * 16 + d;
      }
      i += 4;
      out += String.fromCharCode(v);
    } else return null;
  }
  if (!closed) return null;
  i = skipSpace(text, i);
  if (i >= text.length || text.charCodeAt(i) != 0x7d) return null;
  if (skipSpace(text, i + 1) != text.length) return null;
  return out;
}
