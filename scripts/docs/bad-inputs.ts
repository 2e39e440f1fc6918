// Writes the table of bad inputs in docs/bad-inputs.md from the list the
// tests run (test/cli/badInputs.ts), between the page's two table markers;
// the rest of the page is prose. test/scripts/docs/badInputs.test.ts checks
// that the committed table is this one, so the two cannot drift apart.
//   npx tsx scripts/docs/bad-inputs.ts

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BAD_INPUTS, type BadInput } from '../../test/cli/badInputs.js';
import { projectRoot } from '../../src/util/paths.js';

export const PAGE = join(projectRoot(), 'docs', 'bad-inputs.md');
export const BEGIN = '<!-- the table: written by npx tsx scripts/docs/bad-inputs.ts from test/cli/badInputs.ts -->';
export const END = '<!-- end of the table -->';

// A table cell: pipes escaped, code spans where the text is typed or printed.
function cell(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('|', '\\|');
}

function code(text: string): string {
  const escaped = cell(text);
  return escaped.includes('`') ? `\`\` ${escaped} \`\`` : `\`${escaped}\``;
}

// The command line as a user types it (arguments with spaces or nothing in them quoted).
function commandLine(input: BadInput): string {
  const quote = (a: string) => (a === '' || /[\s'"$<>*]/.test(a) ? `'${a}'` : a);
  const root = join(projectRoot(), '');
  const args = input.args.map((a) => quote(a.replace(`${root}/`, '')));
  const env = Object.entries(input.env ?? {}).map(([k, v]) => `${k}=${quote(v)} `);
  return `${env.join('')}natscope ${args.join(' ')}`;
}

function who(input: BadInput): string {
  if (input.user) return 'user';
  return input.root ? 'root' : 'any';
}

export function renderTable(inputs: BadInput[] = BAD_INPUTS): string {
  const rows = inputs.map(
    (input, i) =>
      `| ${i + 1} | ${cell(input.what)} | ${code(commandLine(input))} | ${who(input)} | ${input.exit} | ${code(`natscope: ${input.error}`)}<br>${code(`fix: ${input.fix}`)} |`,
  );
  return [
    BEGIN,
    '',
    `${inputs.length} bad inputs. \`{tmp}\` is the case's own folder, where its files are made.`,
    '',
    '| # | input | command line | as | exit | what natscope says |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    END,
  ].join('\n');
}

// The page with its table replaced by the one the list makes now.
export function renderPage(page: string): string {
  const begin = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (begin === -1 || end === -1) throw new Error(`${PAGE} has lost its table markers`);
  return `${page.slice(0, begin)}${renderTable()}${page.slice(end + END.length)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(PAGE, renderPage(readFileSync(PAGE, 'utf8')));
}
