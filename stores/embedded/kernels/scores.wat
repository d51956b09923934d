;; The f32 scan of DenseMatrix (stores/embedded/dense.ts), export "scores".
;; For each of $n rows of $rowBytes bytes starting at $row, writes the dot
;; product of the row with the query at $q as an f32 at $out + 4 * index.
;; $rowBytes is a multiple of 16; the products accumulate in one f32x4 (four
;; floats per instruction) whose lanes are summed per row.
;; Assembled into stores/embedded/kernels.ts by scripts/assemble-kernels.ts.
(module
  (import "env" "mem" (memory 1))
  (func $scores (export "scores")
    (param $q i32) (param $row i32) (param $rowBytes i32) (param $n i32) (param $out i32)
    (local $s i32) (local $i i32)
    (local $unused i32) ;; declared by the kernel as first written; never read
    (local $acc v128)
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
          ;; acc += q[i..i+16) * row[i..i+16)
          local.get $acc
          local.get $q
          local.get $i
          i32.add
          v128.load align=1
          local.get $row
          local.get $i
          i32.add
          v128.load align=1
          f32x4.mul
          f32x4.add
          local.set $acc
          local.get $i
          i32.const 16
          i32.add
          local.tee $i
          local.get $rowBytes
          i32.lt_u
          br_if $dims
        end
        ;; out[s] = lane0 + lane1 + lane2 + lane3
        local.get $out
        local.get $s
        i32.const 2
        i32.shl
        i32.add
        local.get $acc
        f32x4.extract_lane 0
        local.get $acc
        f32x4.extract_lane 1
        f32.add
        local.get $acc
        f32x4.extract_lane 2
        f32.add
        local.get $acc
        f32x4.extract_lane 3
        f32.add
        f32.store
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
