"""Windows features: Get-WindowsFeature / Install-WindowsFeature (ServerManager) and
Get-WindowsOptionalFeature / Enable-WindowsOptionalFeature (DISM). Installing a feature that needs a restart
leaves it InstallPending with a pending reboot until Restart-Computer."""

from __future__ import annotations

from lab.windows.dispatch import PSObj
from lab.windows.host import Feature

from .core import Invocation, enum_value, register
from .objects import match_any

_SM = "Microsoft.Windows.ServerManager.Commands"
_DISM_STATE = {"Installed": "Enabled", "Available": "Disabled", "InstallPending": "EnablePending",
               "Removed": "DisabledWithPayloadRemoved"}


def _feature_obj(f: Feature) -> PSObj:
    return PSObj([f"{_SM}.Feature", "System.Object"], {
        "Name": f.name, "DisplayName": f.display_name, "Description": f"{f.display_name}.",
        "Installed": f.install_state == "Installed",
        "InstallState": enum_value(f"{_SM}.InstallState", f.install_state),
        "FeatureType": f.feature_type, "Path": f.display_name, "Depth": 1, "DependsOn": [], "Parent": None,
        "SubFeatures": [], "ServerComponentDescriptor": None, "BestPracticesModelId": None, "EventQuery": None,
        "PostConfigurationNeeded": False, "AdditionalInfo": {},
    }, f.name)


@register("Get-WindowsFeature", parameters=("Name", "Vhd", "ComputerName", "Credential", "LogPath"),
          positional=("Name",), aliases={"Cn": "ComputerName"},
          cmdlet_type=f"{_SM}.GetWindowsFeatureCommand")
def get_windows_feature(inv: Invocation) -> None:
    """Get-WindowsFeature [-Name <wildcards>]: a non-matching name returns nothing (no error), as on Windows."""
    names = inv.str_list("Name")
    for f in inv.host.features.values():
        if not names or match_any(f.name, names):
            inv.output(_feature_obj(f))


def _install(inv: Invocation) -> None:
    h = inv.host
    results, restart_needed, changed_any = [], False, False
    for name in inv.str_list("Name"):
        f = h.features.get(name.lower())
        if f is None:
            inv.fail(f"ArgumentNotValid: The role, role service, or feature name is not valid: '{name}'. The name "
                     f"was not found.", "NameDoesNotExist", "InvalidArgument",
                     exception_type="System.Exception", target=name)
        if inv.what_if:
            inv.information(f'What if: Continue with installation? "{f.display_name}"')
            continue
        changed, restart = h.install_feature(f.name)
        changed_any |= changed
        restart_needed |= restart
        if changed:
            results.append(PSObj([f"{_SM}.FeatureOperationResult+FeatureResult", "System.Object"],
                                 {"DisplayName": f.display_name, "Name": f.name, "RestartNeeded": restart,
                                  "SkipReason": enum_value(f"{_SM}.SkipReason", "NotSkipped"), "Success": True,
                                  "Id": 0, "Message": ""}, f.display_name))
    if inv.what_if:
        return
    exit_code = "Success" if changed_any else "NoChangeNeeded"
    if restart_needed:
        exit_code = "SuccessRestartRequired"
        inv.warning("You must restart this server to finish the installation process.")
    inv.output(PSObj([f"{_SM}.FeatureOperationResult", "System.Object"], {
        "Success": True, "RestartNeeded": enum_value(f"{_SM}.RestartState", "Yes" if restart_needed else "No"),
        "FeatureResult": results, "ExitCode": enum_value(f"{_SM}.FeatureOperationExitCode", exit_code),
    }, f"{_SM}.FeatureOperationResult"))
    if restart_needed and inv.switch("Restart"):
        from .system import restart_computer

        restart_computer(inv)


@register("Install-WindowsFeature", parameters=("Name", "Restart", "IncludeAllSubFeature", "IncludeManagementTools",
                                                "Source", "Vhd", "ComputerName", "Credential", "LogPath",
                                                "ConfigurationFilePath"),
          positional=("Name",), aliases={"Cn": "ComputerName", "FeatureName": "Name"}, mandatory=("Name",),
          should_process=True, cmdlet_type=f"{_SM}.AddWindowsFeatureCommand",
          command_aliases=("Add-WindowsFeature",))
def install_windows_feature(inv: Invocation) -> None:
    """Install-WindowsFeature: Success/RestartNeeded/ExitCode; needing a restart warns and leaves a pending reboot
    (with -Restart the host restarts)."""
    _install(inv)


def _optional_obj(f: Feature, detailed: bool) -> PSObj:
    state = enum_value("Microsoft.Dism.Commands.FeatureState", _DISM_STATE.get(f.install_state, "Disabled"))
    if not detailed:
        return PSObj(["Microsoft.Dism.Commands.BasicFeatureObject", "System.Object"],
                     {"FeatureName": f.optional_name, "State": state}, f.optional_name)
    return PSObj(["Microsoft.Dism.Commands.AdvancedFeatureObject", "Microsoft.Dism.Commands.BasicFeatureObject",
                  "System.Object"], {
        "FeatureName": f.optional_name, "DisplayName": f.display_name, "Description": f"{f.display_name}.",
        "RestartRequired": enum_value("Microsoft.Dism.Commands.RestartType",
                                      "Possible" if f.restart_on_install else "No"),
        "State": state, "CustomProperties": [], "Path": None, "Online": True, "WinPath": None,
        "SysDrivePath": None, "RestartNeeded": False, "LogPath": "C:\\Windows\\Logs\\DISM\\dism.log",
        "ScratchDirectory": None, "LogLevel": enum_value("Microsoft.Dism.Commands.LogLevel", "WarningsInfo"),
    }, f.optional_name)


@register("Get-WindowsOptionalFeature", parameters=("FeatureName", "Online", "Path", "PackageName", "PackagePath",
                                                    "WindowsDirectory", "SystemDrive", "LogPath", "ScratchDirectory",
                                                    "LogLevel"),
          aliases={"LP": "LogPath", "SD": "ScratchDirectory", "LL": "LogLevel"},
          cmdlet_type="Microsoft.Dism.Commands.GetWindowsOptionalFeatureCommand")
def get_windows_optional_feature(inv: Invocation) -> None:
    """Get-WindowsOptionalFeature -Online [-FeatureName X]."""
    if not inv.switch("Online") and not inv.has("Path"):
        inv.fail("Parameter set cannot be resolved using the specified named parameters.",
                 "AmbiguousParameterSet", "InvalidArgument",
                 exception_type="System.Management.Automation.ParameterBindingException")
    wanted = inv.str_list("FeatureName")
    opt = [f for f in inv.host.features.values() if f.optional_name]
    if not wanted:
        for f in opt:
            inv.output(_optional_obj(f, False))
        return
    for name in wanted:
        matches = [f for f in opt if match_any(f.optional_name or "", [name])]
        if not matches:
            inv.fail(f"Feature name {name} is unknown.", "Microsoft.Dism.Commands.GetWindowsOptionalFeatureCommand",
                     "NotSpecified", exception_type="System.Runtime.InteropServices.COMException")
        for f in matches:
            inv.output(_optional_obj(f, True))


@register("Enable-WindowsOptionalFeature", parameters=("FeatureName", "Online", "Path", "PackageName", "All",
                                                       "NoRestart", "LimitAccess", "Source", "WindowsDirectory",
                                                       "SystemDrive", "LogPath", "ScratchDirectory", "LogLevel"),
          aliases={"LP": "LogPath", "SD": "ScratchDirectory", "LL": "LogLevel"}, mandatory=("FeatureName",),
          should_process=True, cmdlet_type="Microsoft.Dism.Commands.EnableWindowsOptionalFeatureCommand")
def enable_windows_optional_feature(inv: Invocation) -> None:
    """Enable-WindowsOptionalFeature -Online -FeatureName X: RestartNeeded True when the feature needs a reboot
    (remotely the restart prompt cannot be answered, so it behaves as -NoRestart)."""
    h = inv.host
    restart = False
    for name in inv.str_list("FeatureName"):
        f = next((x for x in h.features.values() if (x.optional_name or "").lower() == name.lower()), None)
        if f is None:
            inv.fail(f"Feature name {name} is unknown.", "Microsoft.Dism.Commands.EnableWindowsOptionalFeatureCommand",
                     "NotSpecified", exception_type="System.Runtime.InteropServices.COMException")
        if inv.what_if:
            continue
        _, r = h.install_feature(f.name)
        restart |= r
    if inv.what_if:
        return
    inv.output(PSObj(["Microsoft.Dism.Commands.ImageObject", "System.Object"],
                     {"Path": None, "Online": True, "WinPath": None, "SysDrivePath": None, "RestartNeeded": restart,
                      "LogPath": "C:\\Windows\\Logs\\DISM\\dism.log", "ScratchDirectory": None,
                      "LogLevel": enum_value("Microsoft.Dism.Commands.LogLevel", "WarningsInfo")},
                     "Microsoft.Dism.Commands.ImageObject"))
