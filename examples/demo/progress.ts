/** A one-line progress bar on a terminal; a line every 20 % otherwise (CI logs). */
export function progress(label: string, total: number): { tick(done: number): void; end(): void } {
  const tty = process.stderr.isTTY;
  let lastStep = -1;
  const render = (done: number): void => {
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(
        `\r${label.padEnd(10)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
      );
      return;
    }
    const step = Math.floor((done / total) * 5);
    if (step !== lastStep) {
      lastStep = step;
      process.stderr.write(`${label} ${done}/${total}\n`);
    }
  };
  return {
    tick: render,
    end: () => {
      render(total);
      if (tty) process.stderr.write('\n');
    },
  };
}
