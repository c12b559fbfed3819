import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDebianPackages, isExecutable } from './debian-packages.ts';
import { elapsed, step } from './progress.ts';
import { cacheDir } from './temporal-cli.ts';

/** The Java SDK release whose test server we run; the TypeScript SDK cannot download one offline. */
export const TEST_SERVER_VERSION = '1.31.0';

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.feishu-user-auth</groupId>
  <artifactId>time-skipping-server</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TEST_SERVER_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`;

// The SDK starts the executable with the port as its argument, and gives it five seconds to
// listen. C1 only and the serial collector halve the JVM's start on a busy machine (1.6–2.4 s
// instead of 3.4–4.4 s at load 22); a test server needs no peak throughput. The classpath sits
// beside the wrapper so the cache directory can move.
const WRAPPER = `#!/bin/sh
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$(cat "$(dirname "$0")/cp.txt")" io.temporal.testserver.TestServer "$@"
`;

/**
 * The Java time-skipping test server as an executable for `TestWorkflowEnvironment.createTimeSkipping`:
 * TEMPORAL_TEST_SERVER when set, else a wrapper in our cache, built once from Maven Central.
 */
export async function findOrBuildTimeSkippingServer(): Promise<string> {
  const explicit = process.env.TEMPORAL_TEST_SERVER;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`TEMPORAL_TEST_SERVER=${explicit} is not an executable file`);
  }
  const dir = path.join(cacheDir(), 'time-skipping-server');
  const pom = path.join(dir, 'pom.xml');
  const wrapper = path.join(dir, 'test-server');
  // The pom names the version, so a changed TEST_SERVER_VERSION rebuilds; a wrapper exists only
  // beside a complete classpath, and one from older code is replaced.
  if (isExecutable(wrapper) && existsSync(pom) && readFileSync(pom, 'utf8') === POM) {
    if (readFileSync(wrapper, 'utf8') !== WRAPPER) installWrapper(wrapper);
    return wrapper;
  }

  await ensureDebianPackages([
    { command: 'java', debianPackage: 'default-jre-headless' },
    { command: 'mvn', debianPackage: 'maven' },
  ]);
  mkdirSync(dir, { recursive: true });
  // Until the new classpath is complete there is no wrapper, so an interrupted build is redone.
  rmSync(wrapper, { force: true });
  writeFileSync(pom, POM);
  await resolveClasspath(dir);
  installWrapper(wrapper);
  return wrapper;
}

/** Renamed into place so a concurrent run never starts a half-written wrapper. */
function installWrapper(wrapper: string): void {
  const staged = `${wrapper}.${process.pid}.tmp`;
  writeFileSync(staged, WRAPPER, { mode: 0o755 });
  renameSync(staged, wrapper);
}

function resolveClasspath(dir: string): Promise<void> {
  const started = Date.now();
  step(
    `resolving the Temporal time-skipping test server ${TEST_SERVER_VERSION} from Maven into ${dir}; the first time downloads ~45 MB`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn('mvn', ['-B', '-q', 'dependency:build-classpath', '-Dmdep.outputFile=cp.txt'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const report = setInterval(() => step(`  still resolving, ${elapsed(started)}`), 10_000);
    child.on('error', (err) => {
      clearInterval(report);
      reject(new Error(`cannot run mvn to resolve the time-skipping test server: ${err.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(report);
      if (code === 0) {
        step(`resolved the time-skipping test server in ${elapsed(started)}`);
        resolve();
      } else {
        reject(new Error(`mvn dependency:build-classpath failed in ${dir} (exit ${code}):\n${tail}`));
      }
    });
  });
}
