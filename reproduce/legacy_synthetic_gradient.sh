# Sourced by the reproduction scripts whose committed runs of dni and cdni used the
# defaults of before 2026-12-07: Adam 1e-3, a constant rate, no normalisation,
# bootstrapped targets. The defaults are now reproduce/synthetic_gradients_batch_norm.sh's
# best configuration; these flags keep the older runs reproducible.
#   legacy_synthetic_gradient ARGS...   prints the flags ARGS leave unset, one per line
#   legacy_sg_bin=$locus; locus=legacy_sg_locus   runs every `$locus train` with them
legacy_synthetic_gradient() {
  local given=" $* "
  [[ $given == *" train "* ]] || return 0
  [[ $given == *" --algo dni "* || $given == *" --algo cdni "* ]] || return 0
  [[ $given == *" --model lstm "* ]] && return 0
  [[ $given == *" --lr-schedule "* ]] || printf '%s\n' --lr-schedule constant
  [[ $given == *" --lr "* || $given == *" --optimizer sgd "* ]] || printf '%s\n' --lr 0.001
  if [[ $given != *" --batch-norm"* && $given != *" --layer-norm "* && $given != *" --model lenet "* ]]; then
    printf '%s\n' --batch-norm false
  fi
  [[ $given == *" --sg-target "* ]] || printf '%s\n' --sg-target bootstrapped
}

legacy_sg_locus() {
  local pinned=()
  mapfile -t pinned < <(legacy_synthetic_gradient "$@")
  "${legacy_sg_bin:?set legacy_sg_bin to the locus binary}" "$@" "${pinned[@]}"
}
