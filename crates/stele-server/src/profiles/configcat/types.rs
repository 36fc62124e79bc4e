//! ConfigCat's `AuditLogType` names, exactly the 77 of the seed (the Public Management API
//! of Aug/Sep 2024), in the seed's order. `auditLogType` accepts these and nothing else.

pub const AUDIT_LOG_TYPES: [&str; 77] = [
    "productCreated",
    "productChanged",
    "productOwnershipTransferred",
    "productDeleted",
    "productsReordered",
    "teamMemberInvited",
    "teamMemberInvitationRevoked",
    "teamMemberJoined",
    "teamMemberPermissionGroupChanged",
    "teamMemberRemoved",
    "teamMemberLeft",
    "teamMemberInvitationChanged",
    "teamMemberInvitationResent",
    "teamMemberInvitationRejected",
    "configCreated",
    "configChanged",
    "configDeleted",
    "configsReordered",
    "environmentCreated",
    "environmentChanged",
    "environmentDeleted",
    "environmentsReordered",
    "settingCreated",
    "settingChanged",
    "settingDeleted",
    "settingsReordered",
    "settingValueChanged",
    "webHookCreated",
    "webHookChanged",
    "webHookDeleted",
    "permissionGroupCreated",
    "permissionGroupChanged",
    "permissionGroupDeleted",
    "permissionGroupDefault",
    "apiKeyAdded",
    "apiKeyRemoved",
    "integrationAdded",
    "integrationChanged",
    "integrationRemoved",
    "apiKeyConnected",
    "integrationLinkAdded",
    "integrationLinkRemoved",
    "organizationAdded",
    "organizationRemoved",
    "organizationChanged",
    "organizationSubscriptionTypeChanged",
    "organizationAdminChanged",
    "organizationAdminLeft",
    "organizationAdminDisabled2FA",
    "tagAdded",
    "tagChanged",
    "tagRemoved",
    "settingTagAdded",
    "settingTagRemoved",
    "publicApiAccessTokenAdded",
    "publicApiAccessTokenRemoved",
    "domainAdded",
    "domainVerified",
    "domainRemoved",
    "domainSamlConfigured",
    "domainSamlDeleted",
    "autoProvisioningConfigurationChanged",
    "samlIdpConfigurationAdded",
    "samlIdpConfigurationRemoved",
    "samlIdpConfigurationUpdated",
    "organizationMemberJoined",
    "organizationMemberProductJoinRequested",
    "organizationMemberProductJoinRequestRejected",
    "organizationMemberProductJoinRequestApproved",
    "codeReferencesUploaded",
    "codeReferenceDeleted",
    "codeReferenceStaleBranchDeleted",
    "segmentCreated",
    "segmentChanged",
    "segmentDeleted",
    "webhookSigningKeyDeleted",
    "webhookSigningKeyCreated",
];

/// The canonical name of an `auditLogType` value (matched case-insensitively, as ASP.NET
/// binds enum names).
pub fn canonical(name: &str) -> Option<&'static str> {
    AUDIT_LOG_TYPES.iter().copied().find(|t| t.eq_ignore_ascii_case(name.trim()))
}

/// A type name in words: `settingValueChanged` → `Setting value changed`,
/// `organizationAdminDisabled2FA` → `Organization admin disabled 2FA`. Dots, dashes and
/// underscores also separate words (`user.created` → `User created`).
pub fn in_words(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if matches!(c, '.' | '_' | '-' | ' ') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let starts_word = match prev {
            None => false,
            Some(p) if c.is_ascii_uppercase() && (p.is_ascii_lowercase()) => true,
            Some(p) if c.is_ascii_uppercase() && p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
            Some(p) if c.is_ascii_digit() && p.is_alphabetic() => true,
            _ => false,
        };
        if starts_word && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let acronym = word.chars().count() > 1 && word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let word = if acronym { word.clone() } else { word.to_lowercase() };
        if i == 0 {
            let mut chars = word.chars();
            let first = chars.next().map(|c| c.to_uppercase().collect::<String>()).unwrap_or_default();
            out.push(format!("{first}{}", chars.as_str()));
        } else {
            out.push(word);
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventy_seven_distinct_names() {
        let set: std::collections::HashSet<_> = AUDIT_LOG_TYPES.iter().collect();
        assert_eq!(set.len(), 77);
        assert_eq!(canonical("SETTINGVALUECHANGED"), Some("settingValueChanged"));
        assert_eq!(canonical("subscriptionChanged"), None);
    }

    #[test]
    fn words() {
        assert_eq!(in_words("settingValueChanged"), "Setting value changed");
        assert_eq!(in_words("organizationAdminDisabled2FA"), "Organization admin disabled 2FA");
        assert_eq!(in_words("webHookCreated"), "Web hook created");
        assert_eq!(in_words("samlIdpConfigurationAdded"), "Saml idp configuration added");
        assert_eq!(in_words("stele.tenant.created"), "Stele tenant created");
        assert_eq!(in_words("HTTPRequestSent"), "HTTP request sent");
        assert_eq!(in_words(""), "");
    }
}
