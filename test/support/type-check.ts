import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The type errors of `files` (absolute paths) under strict settings, with `overrides` (a gateway's
 * NodeNext, a browser client's Bundler and DOM), as the TypeScript the project pins reports them; '' when
 * there are none. In process: the examples' tests check their files without a temp tsconfig.
 */
export function typeErrors(files: readonly string[], overrides: Record<string, unknown>): { errors: string; program: ts.Program } {
  const { options, errors } = ts.convertCompilerOptionsFromJson(
    {
      strict: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
      skipLibCheck: true,
      isolatedModules: true,
      verbatimModuleSyntax: true,
      target: 'ES2022',
      ...overrides,
    },
    root,
  );
  const program = ts.createProgram([...files], options);
  const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  return { errors: ts.formatDiagnostics([...errors, ...ts.getPreEmitDiagnostics(program)], host), program };
}
