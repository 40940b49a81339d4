// A dependency-free SVG bar chart of bench:spec results: end-to-end tokens/s per mode (bars), grouped by
// scenario, with decode-only tokens/s as a tick on each bar.

interface Row {
  name: string;
  mode: string;
  drafter: string | null;
  modelled: boolean;
  e2eTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

const COLORS: Record<string, string> = {
  plain: "#9aa5b1",
  speculative: "#3b82f6",
  pipeinfer: "#f59e0b",
};

export function renderSpecPlot(rows: readonly Row[]): string {
  const groups = [...new Set(rows.map((r) => r.name))];
  const bars = (g: string): Row[] => rows.filter((r) => r.name === g);
  const maxBars = Math.max(...groups.map((g) => bars(g).length));
  const barW = 22;
  const groupW = maxBars * barW + 30;
  const H = 270;
  const top = 30;
  const base = H - 70;
  const max = Math.max(
    ...rows.map((r) => Math.max(r.e2eTokensPerSecond, r.decodeTokensPerSecond)),
    1,
  );
  const W = Math.max(groups.length * groupW + 60, 640);
  const y = (tps: number): number => base - ((base - top) * tps) / max;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="10">`,
    `<text x="10" y="16" font-size="12">end-to-end tokens/s per mode and scenario (bars; tick: decode-only), higher is better</text>`,
  ];
  groups.forEach((g, gi) => {
    const x0 = 50 + gi * groupW;
    bars(g).forEach((r, bi) => {
      const x = x0 + bi * barW;
      const top = y(r.e2eTokensPerSecond);
      out.push(
        `<rect x="${x}" y="${top.toFixed(1)}" width="${barW - 4}" height="${(base - top).toFixed(1)}" fill="${COLORS[r.mode] ?? "#555"}">` +
          `<title>${g} ${r.mode} ${r.drafter ?? ""}: ${r.e2eTokensPerSecond.toFixed(2)} tok/s end to end, ` +
          `${r.decodeTokensPerSecond.toFixed(2)} decode-only</title></rect>`,
      );
      const dy = y(r.decodeTokensPerSecond).toFixed(1);
      out.push(
        `<line x1="${x - 1}" x2="${x + barW - 3}" y1="${dy}" y2="${dy}" stroke="#111" stroke-width="1.5"/>`,
      );
      out.push(
        `<text x="${x + 1}" y="${(Math.min(top, Number(dy)) - 3).toFixed(1)}" font-size="8">${r.e2eTokensPerSecond.toFixed(1)}</text>`,
      );
      const tag = r.drafter === null ? "" : r.drafter === "engine" ? "eng" : "ort";
      out.push(`<text x="${x + 1}" y="${base + 9}" font-size="7">${tag}</text>`);
    });
    const label = `${g}${bars(g)[0]?.modelled === true ? " (modelled)" : ""}`;
    out.push(`<text x="${x0}" y="${base + 21}">${label}</text>`);
  });
  Object.entries(COLORS).forEach(([mode, c], i) => {
    out.push(`<rect x="${50 + i * 110}" y="${H - 38}" width="10" height="10" fill="${c}"/>`);
    out.push(`<text x="${64 + i * 110}" y="${H - 29}">${mode}</text>`);
  });
  out.push(
    `<line x1="${50 + 3 * 110}" x2="${62 + 3 * 110}" y1="${H - 33}" y2="${H - 33}" stroke="#111" stroke-width="1.5"/>`,
    `<text x="${66 + 3 * 110}" y="${H - 29}">decode-only tokens/s</text>`,
    `<text x="50" y="${H - 12}">ort = onnxruntime-web drafter, eng = engine drafter</text>`,
  );
  out.push("</svg>");
  return out.join("\n");
}
