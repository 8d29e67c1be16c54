;; The line scan of the reports (generator/report/scan-lines.ts): one pass over a block of audit lines (WebAssembly
;; SIMD: 64 bytes at a time are tested for a line end or a needle candidate, and the 32 bytes holding one are looked
;; at closely) that finds every line end, checks every line's frame and finds the lines containing any of up to four
;; needles. grep's work in one pass, where Buffer.indexOf needs one pass per needle and a call per line.
;;
;; scan-lines-wasm.ts holds this module assembled: `node_modules/.bin/wasm-as --enable-simd scan-lines.wat`
;; (binaryen); test/report/scan-lines.test.ts assembles it again and fails if the two differ.
;;
;; Memory layout (offsets from $cfg, written by scan-lines.ts):
;;   0    the frame: the 29 bytes every record line opens with, {"format":"phiguard.audit/v1"
;;   96   i32 needle count (0..4)
;;   100  i32 1: every line is selected (no needles)
;;   128  per needle k (16 bytes each): i32 address of its bytes, i32 length, i32 probe offset a, i32 probe offset b
;;   192  per needle k: v128 of the needle's byte at a, repeated
;;   256  per needle k: v128 of the needle's byte at b, repeated
;;   320  per needle k: v128 of its first 16 bytes (zeros after a shorter needle)
;;   384  per needle k: v128 mask of those bytes (ff for each byte of the needle, 00 after)
;;   448  per needle k: v128 of its last 16 bytes (needles longer than 16 bytes)
;; The block must be followed by at least 256 readable bytes (loads run past its end; what they read is masked).
(module
  (memory (export "memory") 1)
  ;; Counts of the last scan call: line ends passed, empty lines among them, lines written to the output.
  (global $lines (export "lines") (mut i32) (i32.const 0))
  (global $empty (export "empty") (mut i32) (i32.const 0))
  (global $emitted (export "emitted") (mut i32) (i32.const 0))

  ;; 1 when needle $k occurs at $p and ends before $end, else 0: a probe hit is only a candidate. Its first 16 bytes
  ;; (masked to its length) and its last 16 are compared as vectors, bytes between them one by one.
  (func $matches (param $cfg i32) (param $k i32) (param $p i32) (param $end i32) (result i32)
    (local $entry i32) (local $vec i32) (local $ptr i32) (local $len i32) (local $i i32)
    (local.set $entry (i32.add (local.get $cfg) (i32.add (i32.const 128) (i32.shl (local.get $k) (i32.const 4)))))
    (local.set $vec (i32.add (local.get $cfg) (i32.shl (local.get $k) (i32.const 4))))
    (local.set $ptr (i32.load (local.get $entry)))
    (local.set $len (i32.load offset=4 (local.get $entry)))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $len)) (local.get $end)) (then (return (i32.const 0))))
    (if (v128.any_true (v128.and (v128.xor (v128.load (local.get $p)) (v128.load offset=320 (local.get $vec)))
                                 (v128.load offset=384 (local.get $vec))))
      (then (return (i32.const 0))))
    (if (i32.le_u (local.get $len) (i32.const 16)) (then (return (i32.const 1))))
    (if (v128.any_true (v128.xor (v128.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 16)))
                                 (v128.load offset=448 (local.get $vec))))
      (then (return (i32.const 0))))
    (local.set $i (i32.const 16))
    (block $equal
      (loop $bytes
        (br_if $equal (i32.ge_u (local.get $i) (i32.sub (local.get $len) (i32.const 16))))
        (if (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (i32.const 1))

  ;; The 16-bit mask of positions $pos + 0..15 where a needle may start: its byte at probe offset $i is $a and its
  ;; byte at probe offset $j is $b there (Mula's SIMD substring filter).
  (func $candidates (param $pos i32) (param $i i32) (param $j i32) (param $a v128) (param $b v128) (result i32)
    (i8x16.bitmask (v128.and
      (i8x16.eq (v128.load (i32.add (local.get $pos) (local.get $i))) (local.get $a))
      (i8x16.eq (v128.load (i32.add (local.get $pos) (local.get $j))) (local.get $b)))))

  ;; The 32-bit mask of candidates at $pos + 0..31.
  (func $candidates32 (param $pos i32) (param $i i32) (param $j i32) (param $a v128) (param $b v128) (result i32)
    (i32.or
      (call $candidates (local.get $pos) (local.get $i) (local.get $j) (local.get $a) (local.get $b))
      (i32.shl (call $candidates (i32.add (local.get $pos) (i32.const 16)) (local.get $i) (local.get $j)
                                 (local.get $a) (local.get $b))
               (i32.const 16))))

  ;; Whether needle $k's two probes match together anywhere in $pos + 0..63 (a candidate there).
  (func $probe64 (param $pos i32) (param $i i32) (param $j i32) (param $a v128) (param $b v128) (result v128)
    (local $pi i32) (local $pj i32)
    (local.set $pi (i32.add (local.get $pos) (local.get $i)))
    (local.set $pj (i32.add (local.get $pos) (local.get $j)))
    (v128.or
      (v128.or
        (v128.and (i8x16.eq (v128.load (local.get $pi)) (local.get $a))
                  (i8x16.eq (v128.load (local.get $pj)) (local.get $b)))
        (v128.and (i8x16.eq (v128.load offset=16 (local.get $pi)) (local.get $a))
                  (i8x16.eq (v128.load offset=16 (local.get $pj)) (local.get $b))))
      (v128.or
        (v128.and (i8x16.eq (v128.load offset=32 (local.get $pi)) (local.get $a))
                  (i8x16.eq (v128.load offset=32 (local.get $pj)) (local.get $b)))
        (v128.and (i8x16.eq (v128.load offset=48 (local.get $pi)) (local.get $a))
                  (i8x16.eq (v128.load offset=48 (local.get $pj)) (local.get $b))))))

  ;; Scans the lines of [$start, $end): $start is the start of a line and $end - 1 a newline (the caller ends an
  ;; unterminated last line with one). For each line, in order, it writes to [$out, $outEnd) the lines that fail
  ;; the frame check (3 x i32: start, end (its newline), index << 1 | 1) and the selected lines that pass it (start,
  ;; end, index << 1), index counting the lines of this call from 0. A line has the frame when, without its newline
  ;; and one carriage return before it, it is longer than the frame, opens with it and closes with }. Empty lines
  ;; (nothing, or a carriage return) are counted and not written.
  ;; Returns $end when done, or the start of the first line it had no room to write (call again from there).
  (func (export "scan") (param $cfg i32) (param $start i32) (param $end i32) (param $out i32) (param $outEnd i32)
    (result i32)
    (local $pos i32) (local $ls i32) (local $sel i32) (local $n i32) (local $all i32) (local $nlm i32)
    (local $mask i32) (local $bit i32) (local $p i32) (local $k i32) (local $last i32) (local $len i32)
    (local $bad i32) (local $emit i32)
    (local $nl v128) (local $any v128) (local $f0 v128) (local $f1 v128)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128)
    (local $a2 v128) (local $b2 v128) (local $a3 v128) (local $b3 v128)
    (local $i0 i32) (local $j0 i32) (local $i1 i32) (local $j1 i32)
    (local $i2 i32) (local $j2 i32) (local $i3 i32) (local $j3 i32)
    (local.set $nl (i8x16.splat (i32.const 10)))
    (local.set $f0 (v128.load (local.get $cfg)))
    (local.set $f1 (v128.load offset=13 (local.get $cfg)))
    (local.set $n (i32.load offset=96 (local.get $cfg)))
    (local.set $all (i32.load offset=100 (local.get $cfg)))
    (local.set $a0 (v128.load offset=192 (local.get $cfg)))
    (local.set $a1 (v128.load offset=208 (local.get $cfg)))
    (local.set $a2 (v128.load offset=224 (local.get $cfg)))
    (local.set $a3 (v128.load offset=240 (local.get $cfg)))
    (local.set $b0 (v128.load offset=256 (local.get $cfg)))
    (local.set $b1 (v128.load offset=272 (local.get $cfg)))
    (local.set $b2 (v128.load offset=288 (local.get $cfg)))
    (local.set $b3 (v128.load offset=304 (local.get $cfg)))
    (local.set $i0 (i32.load offset=136 (local.get $cfg)))
    (local.set $j0 (i32.load offset=140 (local.get $cfg)))
    (local.set $i1 (i32.load offset=152 (local.get $cfg)))
    (local.set $j1 (i32.load offset=156 (local.get $cfg)))
    (local.set $i2 (i32.load offset=168 (local.get $cfg)))
    (local.set $j2 (i32.load offset=172 (local.get $cfg)))
    (local.set $i3 (i32.load offset=184 (local.get $cfg)))
    (local.set $j3 (i32.load offset=188 (local.get $cfg)))
    (global.set $lines (i32.const 0))
    (global.set $empty (i32.const 0))
    (global.set $emitted (i32.const 0))
    (local.set $pos (local.get $start))
    (local.set $ls (local.get $start))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $pos) (local.get $end)))
        ;; Most of a line is neither a newline nor a candidate: 64 bytes at a time are only tested for either (the
        ;; needles below $n), and the first 32 bytes holding one are looked at below.
        (block $look
          (loop $skip
            (br_if $look (i32.gt_u (i32.add (local.get $pos) (i32.const 64)) (local.get $end)))
            (local.set $any
              (v128.or
                (v128.or (i8x16.eq (v128.load (local.get $pos)) (local.get $nl))
                         (i8x16.eq (v128.load offset=16 (local.get $pos)) (local.get $nl)))
                (v128.or (i8x16.eq (v128.load offset=32 (local.get $pos)) (local.get $nl))
                         (i8x16.eq (v128.load offset=48 (local.get $pos)) (local.get $nl)))))
            (if (i32.gt_u (local.get $n) (i32.const 0)) (then
              (local.set $any (v128.or (local.get $any)
                (call $probe64 (local.get $pos) (local.get $i0) (local.get $j0) (local.get $a0) (local.get $b0))))
              (if (i32.gt_u (local.get $n) (i32.const 1)) (then
                (local.set $any (v128.or (local.get $any)
                  (call $probe64 (local.get $pos) (local.get $i1) (local.get $j1) (local.get $a1) (local.get $b1))))
                (if (i32.gt_u (local.get $n) (i32.const 2)) (then
                  (local.set $any (v128.or (local.get $any)
                    (call $probe64 (local.get $pos) (local.get $i2) (local.get $j2) (local.get $a2) (local.get $b2))))
                  (if (i32.gt_u (local.get $n) (i32.const 3)) (then
                    (local.set $any (v128.or (local.get $any)
                      (call $probe64 (local.get $pos) (local.get $i3) (local.get $j3) (local.get $a3) (local.get $b3))))))))))))
            (br_if $look (v128.any_true (local.get $any)))
            (local.set $pos (i32.add (local.get $pos) (i32.const 64)))
            (br $skip)))
        ;; Newlines and needle candidates at $pos + 0..31, in one mask (a needle holds no newline).
        (local.set $nlm (i32.or
          (i8x16.bitmask (i8x16.eq (v128.load (local.get $pos)) (local.get $nl)))
          (i32.shl (i8x16.bitmask (i8x16.eq (v128.load offset=16 (local.get $pos)) (local.get $nl))) (i32.const 16))))
        (local.set $mask (local.get $nlm))
        (if (i32.gt_u (local.get $n) (i32.const 0)) (then
          (local.set $mask (i32.or (local.get $mask)
            (call $candidates32 (local.get $pos) (local.get $i0) (local.get $j0) (local.get $a0) (local.get $b0))))
          (if (i32.gt_u (local.get $n) (i32.const 1)) (then
            (local.set $mask (i32.or (local.get $mask)
              (call $candidates32 (local.get $pos) (local.get $i1) (local.get $j1) (local.get $a1) (local.get $b1))))
            (if (i32.gt_u (local.get $n) (i32.const 2)) (then
              (local.set $mask (i32.or (local.get $mask)
                (call $candidates32 (local.get $pos) (local.get $i2) (local.get $j2) (local.get $a2) (local.get $b2))))
              (if (i32.gt_u (local.get $n) (i32.const 3)) (then
                (local.set $mask (i32.or (local.get $mask)
                  (call $candidates32 (local.get $pos) (local.get $i3) (local.get $j3) (local.get $a3) (local.get $b3))))))))))))
        ;; Past $end: nothing.
        (if (i32.lt_u (i32.sub (local.get $end) (local.get $pos)) (i32.const 32)) (then
          (local.set $mask (i32.and (local.get $mask)
            (i32.sub (i32.shl (i32.const 1) (i32.sub (local.get $end) (local.get $pos))) (i32.const 1))))))
        ;; Each position in order: a candidate belongs to the line open at it, a newline closes that line.
        (block $bits_done
          (loop $bits
            (br_if $bits_done (i32.eqz (local.get $mask)))
            (local.set $bit (i32.ctz (local.get $mask)))
            (local.set $p (i32.add (local.get $pos) (local.get $bit)))
            (if (i32.and (local.get $nlm) (i32.shl (i32.const 1) (local.get $bit)))
              (then
                ;; The line [$ls, $p).
                (local.set $len (i32.sub (local.get $p) (local.get $ls)))
                (local.set $bad (i32.const 0))
                (if (i32.or (i32.eqz (local.get $len))
                            (i32.and (i32.eq (local.get $len) (i32.const 1))
                                     (i32.eq (i32.load8_u (local.get $ls)) (i32.const 13))))
                  (then
                    (global.set $empty (i32.add (global.get $empty) (i32.const 1)))
                    (local.set $emit (i32.const 0)))
                  (else
                    (local.set $last (i32.sub (local.get $p) (i32.const 1)))
                    (if (i32.eq (i32.load8_u (local.get $last)) (i32.const 13))
                      (then (local.set $last (i32.sub (local.get $last) (i32.const 1)))))
                    ;; Framed: last - ls + 1 > 29, closes with } (125), bytes 0..15 and 13..28 are the frame's.
                    (local.set $bad (i32.eqz (i32.and
                      (i32.and (i32.gt_s (i32.sub (local.get $last) (local.get $ls)) (i32.const 28))
                               (i32.eq (i32.load8_u (local.get $last)) (i32.const 125)))
                      (i32.and (i8x16.all_true (i8x16.eq (v128.load (local.get $ls)) (local.get $f0)))
                               (i8x16.all_true (i8x16.eq (v128.load offset=13 (local.get $ls)) (local.get $f1)))))))
                    (local.set $emit (i32.or (local.get $bad) (i32.or (local.get $sel) (local.get $all))))))
                (if (local.get $emit) (then
                  (if (i32.gt_u (i32.add (local.get $out) (i32.const 12)) (local.get $outEnd))
                    (then (return (local.get $ls))))
                  (i32.store (local.get $out) (local.get $ls))
                  (i32.store offset=4 (local.get $out) (local.get $p))
                  (i32.store offset=8 (local.get $out) (i32.or (i32.shl (global.get $lines) (i32.const 1)) (local.get $bad)))
                  (local.set $out (i32.add (local.get $out) (i32.const 12)))
                  (global.set $emitted (i32.add (global.get $emitted) (i32.const 1)))))
                (global.set $lines (i32.add (global.get $lines) (i32.const 1)))
                (local.set $sel (i32.const 0))
                (local.set $ls (i32.add (local.get $p) (i32.const 1))))
              (else
                ;; A candidate: the line is selected when a needle is really there.
                (if (i32.eqz (local.get $sel)) (then
                  (local.set $k (i32.const 0))
                  (block $found
                    (loop $needles
                      (br_if $found (i32.ge_u (local.get $k) (local.get $n)))
                      (if (call $matches (local.get $cfg) (local.get $k) (local.get $p) (local.get $end))
                        (then
                          (local.set $sel (i32.const 1))
                          (br $found)))
                      (local.set $k (i32.add (local.get $k) (i32.const 1)))
                      (br $needles)))))))
            (local.set $mask (i32.and (local.get $mask) (i32.sub (local.get $mask) (i32.const 1))))
            (br $bits)))
        (local.set $pos (i32.add (local.get $pos) (i32.const 32)))
        (br $blocks)))
    (local.get $ls))
)
