export { compareVersions, binDirOf, findClientTools, installedEngineVersions, majorOf } from './binaries';
export type { ClientTools } from './binaries';
export {
  copyRunningServer,
  copyStoppedDataDir,
  createStandby,
  readSwitchPoint,
  startAtConsistency,
  waitForStreaming,
} from './copy';
export type { ConsistencyPoint, CopyOptions, CopyResult, StandbyOptions } from './copy';
export { assertServerUserCanUse, chownTree, makeServerDir, serverOsUser } from './os-user';
export {
  CLUSTER_PARAMETERS_FILE,
  forgetServer,
  freePort,
  PgServer,
  REPLICATOR,
  stopAllServersSync,
  SUPERUSER,
  writeClusterParameterSettings,
} from './server';
export type { PgServerOptions, ServerSettings } from './server';
export { majorUpgradePlan, upgradeMajor, upgradeMinor } from './upgrade';
export type { MajorUpgradeOptions, MajorUpgradePlan, UpgradeMethod } from './upgrade';
