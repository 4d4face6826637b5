//! Which MPI rank runs which stages.

use std::ops::Range;

use crate::{Error, Result};

/// Which stages each rank runs: contiguous blocks, bottom first, as equal in size as the
/// stack allows, the lower ranks taking one stage more when the stages do not divide
/// evenly: with `K` stages on `R` ranks, the first `K mod R` ranks run `⌊K/R⌋ + 1`
/// stages and the others `⌊K/R⌋`. Three stages on two ranks: rank 0 runs stages 0 and 1,
/// rank 1 stage 2; seven on five: `[0, 1] [2, 3] [4] [5] [6]`.
///
/// # Errors
/// [`Error::Config`] for more ranks than stages (a rank would have nothing to run).
pub fn stage_placement(stages: usize, ranks: usize) -> Result<Vec<Range<usize>>> {
    if ranks == 0 || ranks > stages {
        return Err(Error::Config(format!(
            "the mpi scheduler runs one or more stages on every rank: the stack has {stages} \
             stages but the run has {ranks} ranks (start it with mpirun -n N, 1 <= N <= \
             {stages})"
        )));
    }
    let (base, extra) = (stages / ranks, stages % ranks);
    let first = |r: usize| r * base + r.min(extra);
    Ok((0..ranks).map(|r| first(r)..first(r + 1)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_contiguous_and_the_lower_ranks_take_the_extra_stages() {
        assert_eq!(stage_placement(3, 2).unwrap(), vec![0..2, 2..3]);
        assert_eq!(stage_placement(4, 3).unwrap(), vec![0..2, 2..3, 3..4]);
        assert_eq!(stage_placement(4, 2).unwrap(), vec![0..2, 2..4]);
        assert_eq!(stage_placement(3, 3).unwrap(), vec![0..1, 1..2, 2..3]);
        assert_eq!(stage_placement(5, 1).unwrap(), vec![0..5]);
        assert_eq!(
            stage_placement(7, 5).unwrap(),
            vec![0..2, 2..4, 4..5, 5..6, 6..7]
        );
        for stages in 1..12 {
            for ranks in 1..=stages {
                let blocks = stage_placement(stages, ranks).unwrap();
                assert_eq!(blocks.len(), ranks);
                assert_eq!(blocks[0].start, 0);
                assert_eq!(blocks[ranks - 1].end, stages);
                for pair in blocks.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].len() >= pair[1].len(), "{blocks:?}");
                    assert!(pair[0].len() - pair[1].len() <= 1, "{blocks:?}");
                }
                assert!(blocks.iter().all(|b| !b.is_empty()));
            }
        }
    }

    #[test]
    fn more_ranks_than_stages_are_refused_by_name() {
        let e = stage_placement(2, 3).unwrap_err().to_string();
        assert!(e.contains("2 stages but the run has 3 ranks"), "{e}");
        assert!(stage_placement(2, 0).is_err());
    }
}
