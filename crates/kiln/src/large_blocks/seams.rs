//! Where the kernel mappings that make up one large block meet.
//!
//! Pages moved with `mremap` keep their own mapping unless the kernel merges it with its
//! neighbour, which it does not always do; a block assembled from others therefore spans
//! several mappings. Its seams are the page offsets where one ends and the next begins, as far
//! as the allocator knows (the kernel may have merged some: a count that is never too low).

/// Seams one block holds at most; a block with more counts as having too many.
pub(super) const MOST_SEAMS: usize = 7;

/// The seams of one block, in pages from its start, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seams {
    at: [u32; MOST_SEAMS],
    /// Seams in `at`, or `TOO_MANY`.
    count: u8,
}

const TOO_MANY: u8 = u8::MAX;

impl Seams {
    /// One mapping, no seam.
    pub(super) const NONE: Self = Self {
        at: [0; MOST_SEAMS],
        count: 0,
    };

    /// More seams than a block keeps.
    pub(super) const TOO_MANY: Self = Self {
        at: [0; MOST_SEAMS],
        count: TOO_MANY,
    };

    /// Whether the block spans more mappings than [`MOST_SEAMS`] + 1.
    pub(super) fn too_many(&self) -> bool {
        self.count == TOO_MANY
    }

    /// Mappings the block spans, at most (`MOST_SEAMS + 2` for too many).
    #[cfg(test)]
    pub(super) fn pieces(&self) -> usize {
        if self.too_many() {
            MOST_SEAMS + 2
        } else {
            usize::from(self.count) + 1
        }
    }

    fn list(&self) -> &[u32] {
        if self.too_many() {
            &[]
        } else {
            &self.at[..usize::from(self.count)]
        }
    }

    /// Adds a seam at `page`, after every other.
    fn push(&mut self, page: u32) {
        if self.too_many() {
            return;
        }
        if usize::from(self.count) == MOST_SEAMS {
            *self = Self::TOO_MANY;
            return;
        }
        self.at[usize::from(self.count)] = page;
        self.count += 1;
    }

    /// The seams of the block's first `pages` pages.
    pub(super) fn head(&self, pages: u32) -> Self {
        if self.too_many() {
            return *self;
        }
        let mut head = Self::NONE;
        for &page in self.list().iter().filter(|&&page| page < pages) {
            head.push(page);
        }
        head
    }

    /// The seams of the block from page `pages` on, counted from there.
    pub(super) fn tail(&self, pages: u32) -> Self {
        if self.too_many() {
            return *self;
        }
        let mut tail = Self::NONE;
        for &page in self.list().iter().filter(|&&page| page > pages) {
            tail.push(page - pages);
        }
        tail
    }

    /// Appends a part that starts `offset` pages into the block (a seam there, unless it is
    /// the start) with seams `part` of its own.
    pub(super) fn append(&mut self, offset: u32, part: &Self) {
        if part.too_many() {
            *self = Self::TOO_MANY;
            return;
        }
        if offset > 0 {
            self.push(offset);
        }
        for &page in part.list() {
            self.push(offset + page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seams(pages: &[u32]) -> Seams {
        let mut seams = Seams::NONE;
        for &page in pages {
            seams.push(page);
        }
        seams
    }

    #[test]
    fn a_split_gives_each_side_its_own_seams() {
        let block = seams(&[4, 10]);
        assert_eq!(block.head(6), seams(&[4]));
        assert_eq!(block.tail(6), seams(&[4]));
        // A split on a seam removes it from both sides.
        assert_eq!(block.head(10), seams(&[4]));
        assert_eq!(block.tail(10), Seams::NONE);
        assert_eq!(block.pieces(), 3);
    }

    #[test]
    fn appended_parts_add_a_seam_where_they_meet() {
        let mut block = Seams::NONE;
        block.append(0, &seams(&[2]));
        block.append(5, &Seams::NONE);
        block.append(8, &seams(&[1]));
        assert_eq!(block, seams(&[2, 5, 8, 9]));
        assert_eq!(block.pieces(), 5);
    }

    #[test]
    fn past_the_most_seams_a_block_has_too_many_for_good() {
        let mut block = Seams::NONE;
        for part in 0..=MOST_SEAMS as u32 + 1 {
            block.append(part * 4, &Seams::NONE);
        }
        assert!(block.too_many());
        assert_eq!(block.pieces(), MOST_SEAMS + 2);
        assert!(block.head(1).too_many() && block.tail(1).too_many());
        let mut other = Seams::NONE;
        other.append(3, &block);
        assert!(other.too_many());
    }
}
