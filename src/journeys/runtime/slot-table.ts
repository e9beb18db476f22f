/**
 * The index of a bounded ring of keys: an open-addressing hash table (linear probing, at most half full) from a
 * key's 30-bit hash to its slot in the ring, as `slot + 1` (0 is an empty cell). The ring itself (the keys, their
 * hashes, what is kept per key) belongs to the owner, which compares keys while probing:
 *
 *     for (let i = t.home(h); ; i = t.next(i)) {
 *       const cell = t.cells[i]!;
 *       if (cell === SlotTable.EMPTY) return -1;
 *       if (keyAt(cell - 1) matches) return cell - 1;
 *     }
 *
 * Nothing is allocated per key; the table doubles when the ring outgrows half of it.
 */
export class SlotTable {
  static readonly EMPTY = 0;
  /** Cells: slot + 1, or `EMPTY`. Replaced when the table grows. */
  cells: Int32Array;

  /** `hashOf(slot)`: the 30-bit hash of the key in `slot` (its home cell), for moving entries on removal and growth. */
  constructor(
    minCells: number,
    private readonly hashOf: (slot: number) => number,
  ) {
    this.cells = new Int32Array(minCells);
  }

  /** The first cell of `h`'s probe run. */
  home(h: number): number {
    return h & (this.cells.length - 1);
  }

  /** The cell after `i` in a probe run. */
  next(i: number): number {
    return (i + 1) & (this.cells.length - 1);
  }

  /** Indexes `slot` (key hash `h`); `size` is how many slots the ring now holds, `slot` included. */
  add(slot: number, h: number, size: number): void {
    if (size * 2 > this.cells.length) {
      this.grow(this.cells.length * 2, size);
      return;
    }
    this.put(slot, h);
  }

  private put(slot: number, h: number): void {
    const cells = this.cells;
    const mask = cells.length - 1;
    let i = h & mask;
    while (cells[i] !== SlotTable.EMPTY) i = (i + 1) & mask;
    cells[i] = slot + 1;
  }

  /** Removes `slot`, moving later entries of its probe run back so that every lookup still finds them. */
  remove(slot: number): void {
    const cells = this.cells;
    const mask = cells.length - 1;
    let hole = this.hashOf(slot) & mask;
    while (cells[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let j = (hole + 1) & mask; cells[j] !== SlotTable.EMPTY; j = (j + 1) & mask) {
      const cell = cells[j]!;
      const home = this.hashOf(cell - 1) & mask;
      // The entry at j may fill the hole if the hole lies on its probe path: from its home up to j.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        cells[hole] = cell;
        hole = j;
      }
    }
    cells[hole] = SlotTable.EMPTY;
  }

  /** Rebuilds the table with `cells` cells for slots `0 … size - 1`. */
  private grow(cells: number, size: number): void {
    this.cells = new Int32Array(cells);
    for (let slot = 0; slot < size; slot++) this.put(slot, this.hashOf(slot));
  }
}
