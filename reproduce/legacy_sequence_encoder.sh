# Sourced by the reproduction scripts whose committed MNIST-1D runs of gim, cpc and
# bp-encoder used the sequence encoder that was the default until 2026-12-06: three Conv1d
# stages of 64 channels, kernel 5, strides 1, 2, 1, InfoNCE predicting 1..=K ahead with no
# skip. The default is now reproduce/contrastive_mnist1d_widetop.sh's configuration; these
# flags keep the older runs reproducible.
#   legacy_sequence_encoder ARGS...   prints the flags ARGS leave unset, one per line
legacy_sequence_encoder() {
  local given=" $* "
  [[ $given == *" --enc-widths "* ]] || printf '%s\n' --enc-widths 64,64,64
  [[ $given == *" --seq-strides "* ]] || printf '%s\n' --seq-strides 1,2,1
  [[ $given == *" --prediction-skip "* ]] || printf '%s\n' --prediction-skip 0
}
