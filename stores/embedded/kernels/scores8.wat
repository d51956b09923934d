;; The int8 scan of DenseMatrix (stores/embedded/dense.ts), export "scores8".
;; For each of $n rows of $rowBytes bytes of int8 codes starting at $row,
;; writes the integer dot product of the row with the query codes at $q as an
;; i32 at $out + 4 * index. Each 16 bytes are widened to i16x8 (low and high
;; halves) and multiplied pairwise into an i32x4 accumulator. $rowBytes is a
;; multiple of 16 (rows are zero-padded); |sum| <= dim * 127 * 127 fits an i32.
;; Assembled into stores/embedded/kernels.ts by scripts/assemble-kernels.ts.
(module
  (import "env" "mem" (memory 1))
  (func $scores8 (export "scores8")
    (param $q i32) (param $row i32) (param $rowBytes i32) (param $n i32) (param $out i32)
    (local $s i32) (local $i i32)
    (local $acc v128) (local $qv v128) (local $rv v128)
    block $done
      local.get $n
      i32.eqz
      br_if $done
      loop $rows
        v128.const i32x4 0 0 0 0
        local.set $acc
        i32.const 0
        local.set $i
        loop $dims
          local.get $q
          local.get $i
          i32.add
          v128.load
          local.set $qv
          local.get $row
          local.get $i
          i32.add
          v128.load
          local.set $rv
          ;; acc += dot(low halves) + dot(high halves)
          local.get $acc
          local.get $qv
          i16x8.extend_low_i8x16_s
          local.get $rv
          i16x8.extend_low_i8x16_s
          i32x4.dot_i16x8_s
          local.get $qv
          i16x8.extend_high_i8x16_s
          local.get $rv
          i16x8.extend_high_i8x16_s
          i32x4.dot_i16x8_s
          i32x4.add
          i32x4.add
          local.set $acc
          local.get $i
          i32.const 16
          i32.add
          local.tee $i
          local.get $rowBytes
          i32.lt_u
          br_if $dims
        end
        ;; out[s] = (lane0 + lane1) + (lane2 + lane3)
        local.get $out
        local.get $s
        i32.const 2
        i32.shl
        i32.add
        local.get $acc
        i32x4.extract_lane 0
        local.get $acc
        i32x4.extract_lane 1
        i32.add
        local.get $acc
        i32x4.extract_lane 2
        local.get $acc
        i32x4.extract_lane 3
        i32.add
        i32.add
        i32.store
        ;; next row
        local.get $row
        local.get $rowBytes
        i32.add
        local.set $row
        local.get $s
        i32.const 1
        i32.add
        local.tee $s
        local.get $n
        i32.lt_u
        br_if $rows
      end
    end))
