// The demo's terminal: log lines scroll as usual, and a table (journey health) stays at the bottom and is redrawn
// in place. On a TTY that is ANSI cursor movement: erase the table (cursor up N lines, clear to the end of the
// screen), print the new log line, draw the table again. Anywhere else (a pipe, CI, a test) nothing is redrawn:
// the table is printed as plain lines only when the caller asks (`printTable()`, every few seconds).
// Colours only on a TTY and without NO_COLOR (https://no-color.org).

const ESC = '\u001b[';

export class Screen {
  /** @param {NodeJS.WriteStream} out */
  constructor(out = process.stdout) {
    this.out = out;
    this.tty = Boolean(out.isTTY);
    this.colour = this.tty && !process.env.NO_COLOR;
    /** Lines of the table as last drawn (TTY) or last set (otherwise). */
    this.table = [];
    /** How many lines the table occupies on screen right now (TTY only). */
    this.drawn = 0;
  }

  /** Wraps `text` in an SGR colour when colours are on: 'red', 'green', 'yellow', 'bold', 'dim', 'cyan'. */
  paint(style, text) {
    if (!this.colour) return text;
    const code = { red: '31', green: '32', yellow: '33', cyan: '36', bold: '1', dim: '2' }[style];
    return code === undefined ? text : `${ESC}${code}m${text}${ESC}0m`;
  }

  /** Prints one or more lines above the table. */
  log(text) {
    if (!this.tty) {
      this.out.write(`${text}\n`);
      return;
    }
    this.out.write(`${this.erase()}${text}\n${this.render()}`);
  }

  /** Replaces the table: redrawn in place on a TTY, only remembered otherwise (see printTable). */
  setTable(lines) {
    this.table = lines;
    if (this.tty) this.out.write(`${this.erase()}${this.render()}`);
  }

  /** Without a TTY: prints the current table as plain lines (with a blank line before it). */
  printTable() {
    if (!this.tty && this.table.length > 0) this.out.write(`\n${this.table.join('\n')}\n\n`);
  }

  /** Stops drawing the table (at exit): the last one stays on screen as ordinary output, later lines go below it. */
  release() {
    this.drawn = 0;
    this.table = [];
  }

  erase() {
    if (this.drawn === 0) return '';
    const text = `\r${ESC}${this.drawn}A${ESC}0J`;
    this.drawn = 0;
    return text;
  }

  render() {
    if (this.table.length === 0) return '';
    // A line wider than the terminal wraps and takes two rows, and cursor-up would then miss it: cut lines to fit.
    const width = Math.max(20, (this.out.columns ?? 120) - 1);
    this.drawn = this.table.length;
    return `${this.table.map((l) => cut(l, width)).join('\n')}\n`;
  }
}

/** Cuts `line` to `width` visible characters, keeping ANSI colour sequences intact (and closing them). */
function cut(line, width) {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\u001b') {
      const end = line.indexOf('m', i);
      if (end > 0) {
        out += line.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible === width) return `${out}${ESC}0m`;
    out += line[i];
    visible++;
  }
  return out;
}

/** Seconds as `12.3 s`. */
export const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** A ratio as a percentage with enough digits to tell 99.9 % from 100 %. */
export function percent(ratio, digits = 1) {
  if (!Number.isFinite(ratio)) return '–';
  return `${(ratio * 100).toFixed(digits)}%`;
}

/** An integer with thousands separators. */
export const count = (n) => Math.round(n).toLocaleString('en-US');
