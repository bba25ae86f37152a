export { compareVersions, binDirOf, findClientTools, installedEngineVersions, majorOf } from './binaries';
export type { ClientTools } from './binaries';
export { copyRunningServer, copyStoppedDataDir, createStandby, waitForStreaming } from './copy';
export type { CopyResult, StandbyOptions } from './copy';
export { assertServerUserCanUse, chownTree, makeServerDir, serverOsUser } from './os-user';
export { forgetServer, freePort, PgServer, REPLICATOR, stopAllServersSync, SUPERUSER } from './server';
export type { PgServerOptions } from './server';
export { majorUpgradePlan, upgradeMajor, upgradeMinor } from './upgrade';
export type { MajorUpgradeOptions, MajorUpgradePlan, UpgradeMethod } from './upgrade';
